"""User-facing messages in Simplified Chinese (default) and English.

A request picks its language with ?lang=en|zh-CN or Accept-Language (the pages: the reader's
switch, kept in the session); otherwise the configured `language` applies.
"""
from __future__ import annotations

from flask import current_app, g, has_request_context, request, session

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"

MESSAGES = {
    "auth.missing": {
        "zh-CN": "需要登录：请在 Authorization 头中提供 Bearer 令牌。",
        "en": "Authentication required: send a Bearer token in the Authorization header.",
    },
    "auth.invalid": {
        "zh-CN": "令牌无效、已过期或已被吊销。",
        "en": "The token is invalid, expired or revoked.",
    },
    "auth.forbidden": {
        "zh-CN": "角色“{role}”无权执行此操作；允许的角色：{allowed}。",
        "en": "Role '{role}' may not do this; allowed roles: {allowed}.",
    },
    "auth.undeclared": {
        "zh-CN": "此接口未声明访问权限，已拒绝。",
        "en": "This endpoint declares no access roles and is denied.",
    },
    "auth.bad_login": {
        "zh-CN": "用户名或密码错误，或账户已停用。",
        "en": "Wrong user name or password, or the account is disabled.",
    },
    "accounts.station_exists": {
        "zh-CN": "采集站“{name}”已存在。",
        "en": "Station '{name}' already exists.",
    },
    "accounts.user_exists": {
        "zh-CN": "用户“{name}”已存在。",
        "en": "User '{name}' already exists.",
    },
    "accounts.not_found": {
        "zh-CN": "找不到{what}“{id}”。",
        "en": "No {what} '{id}'.",
    },
    "error.invalid": {
        "zh-CN": "请求数据无效：{detail}",
        "en": "Invalid request: {detail}",
    },
    "error.not_found": {"zh-CN": "请求的地址不存在。", "en": "Nothing is at this address."},
    "error.method": {"zh-CN": "此地址不支持该请求方法。", "en": "This address does not accept that method."},
    "error.internal": {
        "zh-CN": "服务器内部错误，已记录。请联系管理员并提供时间 {time}。",
        "en": "Internal server error; it has been logged. Tell an administrator the time {time}.",
    },
    "up.created_db": {"zh-CN": "已创建数据库：{url}", "en": "Created the database: {url}"},
    "up.running": {
        "zh-CN": "fullrecord 已启动：{url}（健康检查 {url}/healthz，按 Ctrl-C 停止）",
        "en": "fullrecord is running at {url} (health: {url}/healthz; Ctrl-C stops it)",
    },
    "up.first_user": {
        "zh-CN": "还没有用户。创建管理员：echo '密码' | {cmd}",
        "en": "No users yet. Create an administrator: echo 'PASSWORD' | {cmd}",
    },
    "up.pages": {
        "zh-CN": "网页：{url}/ （法制、督察人员和管理员用用户名和密码登录）",
        "en": "Pages: {url}/ (legal staff, inspectors and administrators sign in with name and password)",
    },
    "up.login": {
        "zh-CN": "登录：POST {url}/api/v1/auth/tokens，正文 {{\"username\": …, \"password\": …}}，返回 Bearer 令牌。",
        "en": "Log in: POST {url}/api/v1/auth/tokens with {{\"username\": ..., \"password\": ...}} for a bearer token.",
    },
    "up.add_station": {
        "zh-CN": "登记采集站（最后一行输出为其令牌）：{cmd}",
        "en": "Register a collection station (its token is the last line printed): {cmd}",
    },
    "up.stopping": {"zh-CN": "正在停止所有进程……", "en": "Stopping every process..."},
    "cli.station_added": {
        "zh-CN": "已登记采集站“{name}”（编号 {id}，令牌编号 {token_id}）。令牌只显示这一次：",
        "en": "Registered station '{name}' (id {id}, token id {token_id}). The token is shown only once:",
    },
    "cli.user_added": {
        "zh-CN": "已创建用户“{name}”，角色 {role}（编号 {id}）。",
        "en": "Created user '{name}' with role {role} (id {id}).",
    },
    "cli.token_revoked": {"zh-CN": "令牌 {id} 已吊销。", "en": "Token {id} revoked."},
    "upload.too_large": {
        "zh-CN": "文件大小 {size} 字节超过上限 {limit} 字节。",
        "en": "The file ({size} bytes) is larger than the limit of {limit} bytes.",
    },
    "upload.too_many": {
        "zh-CN": "本采集站未完成的上传已达 {limit} 个，请先完成或终止其中一些。",
        "en": "This station already has {limit} unfinished uploads; finish or terminate some first.",
    },
    "upload.not_found": {"zh-CN": "找不到上传 {id}。", "en": "No upload {id}."},
    "upload.expired": {
        "zh-CN": "上传 {id} 已过期，已接收的部分已删除；请重新上传。",
        "en": "Upload {id} has expired and its partial data was removed; upload the file again.",
    },
    "upload.checksum_algorithm": {
        "zh-CN": "不支持的校验算法“{algorithm}”；可用：sha1、sha256。",
        "en": "Unsupported checksum algorithm '{algorithm}'; use sha1 or sha256.",
    },
    "upload.checksum_encoding": {
        "zh-CN": "Upload-Checksum 的摘要不是有效的 base64。",
        "en": "The Upload-Checksum digest is not valid base64.",
    },
    "upload.offset_mismatch": {
        "zh-CN": "Upload-Offset 为 {given}，但服务器已持久保存到 {expected}；请先 HEAD 获取偏移再续传。",
        "en": "Upload-Offset is {given} but the server has durably stored {expected} bytes; HEAD first, then resume.",
    },
    "upload.body_too_long": {
        "zh-CN": "请求体超出了 Upload-Length（{length} 字节），本次数据未保存。",
        "en": "The body goes past Upload-Length ({length} bytes); nothing of this request was kept.",
    },
    "upload.checksum_mismatch": {
        "zh-CN": "本次数据的 {algorithm} 校验不符，未保存；偏移仍为 {offset}，请重发。",
        "en": "This request's {algorithm} checksum does not match; nothing was kept, the offset is still {offset}.",
    },
    "upload.hash_mismatch": {
        "zh-CN": "整个文件的 SHA-256 为 {actual}，与声明的 {declared} 不符：未登记为证据，已接收数据已丢弃。",
        "en": "The whole file hashes to SHA-256 {actual}, not the declared {declared}: nothing was registered and the data was discarded.",
    },
    "upload.staging_failed": {
        "zh-CN": "暂存区写入失败（{reason}），本次数据未确认；空间恢复后可从原偏移续传。",
        "en": "Writing to staging failed ({reason}); nothing of this request was acknowledged; resume once space is back.",
    },
    "upload.store_failed": {
        "zh-CN": "对象存储暂不可用（{reason}），尚未出具回执；数据已保存在暂存区，请稍后再发送最后一次请求。",
        "en": "The object store is unavailable ({reason}); no receipt yet. The data is kept in staging: retry the last request later.",
    },
    "upload.locked": {
        "zh-CN": "另一个请求正在写入此上传，请稍后重试。",
        "en": "Another request is writing to this upload; retry shortly.",
    },
    "upload.fenced": {
        "zh-CN": "上传 {id} 在本请求停顿期间已由另一个请求接手，本请求的数据均未保留；请用 HEAD 查询偏移后续传。",
        "en": "Another request took over upload {id} while this one was stalled; nothing of this request was kept. "
              "Ask HEAD for the offset and resume from there.",
    },
    "upload.completed_is_evidence": {
        "zh-CN": "上传 {id} 已完成，其文件已是证据，不能终止或删除。",
        "en": "Upload {id} is complete and its file is evidence; it cannot be terminated.",
    },
    "upload.metadata": {"zh-CN": "元数据无效：{detail}", "en": "Invalid metadata: {detail}"},
    "upload.version": {
        "zh-CN": "需要 Tus-Resumable: 1.0.0。",
        "en": "Tus-Resumable: 1.0.0 is required.",
    },
    "upload.content_type": {
        "zh-CN": "PATCH 的 Content-Type 必须是 application/offset+octet-stream。",
        "en": "PATCH requires Content-Type: application/offset+octet-stream.",
    },
    "alert.integrity_failed": {
        "zh-CN": "原始文件完整性校验失败：{reason}。原件未作任何修复，请立即核查存储。",
        "en": "The original failed its integrity check: {reason}. Nothing was repaired; check the store now.",
    },
    "alert.unplayable": {
        "zh-CN": "文件无法作为音视频读取（原件已保留）：{reason}",
        "en": "The file cannot be read as media (the original is kept): {reason}",
    },
    "alert.step_failed": {
        "zh-CN": "处理步骤 {step} 多次尝试后失败：{reason}",
        "en": "Processing step {step} failed after its retries: {reason}",
    },
    "alert.duration_mismatch": {
        "zh-CN": "审阅副本时长 {duration} 秒与原件 {source_duration} 秒不符，未予保留。",
        "en": "The review copy lasts {duration} s but the original {source_duration} s; it was not kept.",
    },
    "alert.already_acknowledged": {
        "zh-CN": "告警 {id} 已于 {when} 确认。",
        "en": "Alert {id} was already acknowledged at {when}.",
    },
    "alert.custody_not_intact": {
        "zh-CN": "监管链日志不完整，未签署检查点：{reason}。请立即运行 `fullrecord custody verify` 并调查。",
        "en": "The custody log is not intact; no checkpoint was signed: {reason}. Run `fullrecord custody verify` "
              "now and investigate.",
    },
    "media.deleted": {
        "zh-CN": "片段 {id} 的文件已按保存期限规则删除；其记录和监管链事件仍保留。",
        "en": "The files of clip {id} were deleted under the retention policy; its record and custody events remain.",
    },
    "media.bad_range": {
        "zh-CN": "请求的字节范围 {range} 超出文件大小（{size} 字节）。",
        "en": "The requested byte range {range} lies outside the file ({size} bytes).",
    },
    "health.ok": {"zh-CN": "正常", "en": "ok"},
    "health.down": {"zh-CN": "不可用", "en": "unavailable"},
}


def _merge_catalogs() -> None:
    from server.catalogs import CATALOGS
    for catalog in CATALOGS:
        clash = MESSAGES.keys() & catalog.keys()
        if clash:
            raise RuntimeError(f"message keys defined twice: {sorted(clash)}")
        MESSAGES.update(catalog)


_merge_catalogs()


def request_language() -> str:
    """Worked out once per request: a page calls t() tens of thousands of times."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    if "language" not in g:
        g.language = _language_of_request()
    return g.language


def _language_of_request() -> str:
    default = current_app.config.get("FULLRECORD_LANGUAGE", DEFAULT_LANGUAGE)
    wanted = request.args.get("lang")
    if wanted in LANGUAGES:
        return wanted
    if request.blueprint == "web":  # the pages: the reader's switch, else the configured default
        return session.get("lang") if session.get("lang") in LANGUAGES else default
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"], default=None)
    if best:
        return "en" if best == "en" else "zh-CN"
    return default


def t(key: str, language: str | None = None, **values) -> str:
    """The message `key` in the request's language, with values filled in."""
    entry = MESSAGES[key]
    return entry[language or request_language()].format_map(_Missing(values))


class _Missing(dict):
    """Formatting values where a missing one shows as '?' rather than failing the request."""

    def __missing__(self, key: str) -> str:
        return "?"
