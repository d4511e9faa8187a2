"""Messages about rate limits and the token lifecycle (rotation, revocation, listing)."""

MESSAGES: dict[str, dict[str, str]] = {
    # -- rate limits (server/limits.py) --
    "limits.per_token": {
        "zh-CN": "此令牌的请求过于频繁（上限为{rate}），请在 {seconds} 秒后重试。",
        "en": "Too many requests with this token (limit {rate}); retry in {seconds} s.",
    },
    "limits.per_address": {
        "zh-CN": "来自此地址的请求过于频繁（上限为{rate}），请在 {seconds} 秒后重试。",
        "en": "Too many requests from this address (limit {rate}); retry in {seconds} s.",
    },
    "limits.sign_in": {
        "zh-CN": "来自此地址的登录失败次数过多（上限为{rate}），请在 {seconds} 秒后再试。",
        "en": "Too many failed sign-ins from this address (limit {rate}); try again in {seconds} s.",
    },
    "limits.sign_in_user": {
        "zh-CN": "此用户名的登录失败次数过多（上限为{rate}），请在 {seconds} 秒后再试；如忘记密码，请联系管理员重置。",
        "en": "Too many failed sign-ins for this user name (limit {rate}); try again in {seconds} s, "
              "or ask an administrator to reset the password.",
    },
    "limits.rate": {"zh-CN": "每{span} {amount} 次", "en": "{amount} per {span}"},
    "limits.span_one": {"zh-CN": "{unit}", "en": "{unit}"},
    "limits.span": {"zh-CN": " {count} {unit}", "en": "{count} {unit}s"},
    "limits.unit.second": {"zh-CN": "秒", "en": "second"},
    "limits.unit.minute": {"zh-CN": "分钟", "en": "minute"},
    "limits.unit.hour": {"zh-CN": "小时", "en": "hour"},
    "limits.unit.day": {"zh-CN": "天", "en": "day"},
    "limits.unit.month": {"zh-CN": "月", "en": "month"},
    "limits.unit.year": {"zh-CN": "年", "en": "year"},
    # -- tokens (server/accounts.py, server/resources/tokens.py) --
    "accounts.token_not_live.revoked": {
        "zh-CN": "令牌 {id} 已吊销，不能轮换；请为其所有者签发新令牌。",
        "en": "Token {id} is revoked and cannot be rotated; issue its owner a new token instead.",
    },
    "accounts.token_not_live.expired": {
        "zh-CN": "令牌 {id} 已过期，不能轮换；请为其所有者签发新令牌。",
        "en": "Token {id} is expired and cannot be rotated; issue its owner a new token instead.",
    },
    "accounts.token_not_live.disabled": {
        "zh-CN": "令牌 {id} 的用户已停用，不能轮换；请先启用该用户。",
        "en": "The user of token {id} is disabled, so it cannot be rotated; enable the user first.",
    },
    "accounts.station_not_named": {
        "zh-CN": "没有名为“{name}”的采集站。",
        "en": "No station is named '{name}'.",
    },
    "accounts.user_not_named": {
        "zh-CN": "没有名为“{name}”的用户。",
        "en": "No user is named '{name}'.",
    },
    # -- the admin CLI --
    "cli.token_rotated": {
        "zh-CN": "已为{owner}签发新令牌（编号 {id}）；旧令牌 {old} 在 {until} 前仍可使用。新令牌只显示这一次：",
        "en": "Issued {owner} a new token (id {id}); the old one {old} keeps working until {until}. "
              "The new token is shown only once:",
    },
    "cli.tokens_none": {"zh-CN": "{owner}没有令牌。", "en": "{owner} has no tokens."},
    "cli.token_line": {
        "zh-CN": "{id}  {state}  创建 {created}  最近使用 {last_used}  过期 {expires}",
        "en": "{id}  {state}  created {created}  last used {last_used}  expires {expires}",
    },
    "tokens.state.active": {"zh-CN": "有效", "en": "active"},
    "tokens.state.expired": {"zh-CN": "已过期", "en": "expired"},
    "tokens.state.revoked": {"zh-CN": "已吊销", "en": "revoked"},
    "tokens.state.disabled": {"zh-CN": "用户已停用", "en": "disabled"},
    "cli.owner_station": {"zh-CN": "采集站“{name}”", "en": "station '{name}'"},
    "cli.owner_user": {"zh-CN": "用户“{name}”", "en": "user '{name}'"},
    "cli.never": {"zh-CN": "从未", "en": "never"},
    "cli.no_expiry": {"zh-CN": "不过期", "en": "never"},
}
