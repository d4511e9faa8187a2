"""Texts of the legal staff's actions (links, legal holds, evidence bundles), the unlinked clips
queue and the users page."""
from server.passwords import MIN_PASSWORD_LENGTH

_EXPORT_STATUS = {
    "queued": ("排队中", "queued"), "running": ("正在生成", "building"),
    "done": ("已完成", "done"), "failed": ("失败", "failed"),
}
_CLIP_STATUS = {
    "received": ("已接收", "received"), "verified": ("已校验", "verified"),
    "integrity_failed": ("校验失败", "integrity failed"), "unplayable": ("无法播放", "unplayable"),
    "processed": ("已处理", "processed"), "deleting": ("删除中", "being deleted"), "deleted": ("已删除", "deleted"),
}

LEGAL = {
    "web.legal.title": {"zh-CN": "法制操作", "en": "Legal actions"},
    "web.legal.read_only": {
        "zh-CN": "仅供查看：关联、解除关联、法律保全和导出证据包由法制人员操作。",
        "en": "Read only: linking, unlinking, legal holds and evidence bundles are for legal staff.",
    },
    "web.legal.reason": {"zh-CN": "理由", "en": "Reason"},
    "web.legal.reason.hint": {"zh-CN": "请写明理由（记入保管链）", "en": "Why (kept in the custody log)"},
    "web.legal.reason.link_hint": {
        "zh-CN": "例如：画面为本环节现场，记录仪时钟偏差导致未自动关联",
        "en": "e.g. the footage shows this step; the recorder's clock kept it from linking",
    },
    "web.legal.reason.unlink_hint": {
        "zh-CN": "例如：画面为另一起事件，与本环节无关",
        "en": "e.g. the footage shows another incident, not this step",
    },
    "web.legal.reason.withdraw_hint": {"zh-CN": "例如：复核后确认原决定有误", "en": "e.g. on review the decision was wrong"},
    "web.legal.reason.hold_hint": {"zh-CN": "例如：案件已进入诉讼，暂停删除", "en": "e.g. the case is in court; keep everything"},
    "web.legal.reason.lift_hint": {"zh-CN": "例如：诉讼已终结", "en": "e.g. the court case has ended"},
    "web.legal.state.linked": {"zh-CN": "已关联", "en": "linked"},
    "web.legal.state.excluded": {"zh-CN": "已排除", "en": "excluded"},
    "web.legal.col.clip": {"zh-CN": "视频片段", "en": "Clip"},
    "web.legal.col.time": {"zh-CN": "时间", "en": "Time"},
    "web.legal.col.recorder": {"zh-CN": "记录仪", "en": "Recorder"},
    "web.legal.col.officer": {"zh-CN": "执法人员", "en": "Officer"},
    "web.legal.unlink.summary": {"zh-CN": "解除关联…", "en": "Unlink…"},
    "web.legal.unlink.submit": {"zh-CN": "解除关联", "en": "Unlink"},
    "web.legal.withdraw.summary": {"zh-CN": "撤销人工决定…", "en": "Withdraw decision…"},
    "web.legal.withdraw.explain": {
        "zh-CN": "撤销后，该片段与本环节是否关联重新由自动规则判断。",
        "en": "Once withdrawn, the automatic rule decides again whether the clip belongs to the step.",
    },
    "web.legal.withdraw.submit": {"zh-CN": "撤销决定", "en": "Withdraw"},
    "web.legal.link.title": {"zh-CN": "人工关联片段", "en": "Link a clip by hand"},
    "web.legal.link.clip_title": {"zh-CN": "关联到执法环节", "en": "Link to an enforcement step"},
    "web.legal.link.page_title": {"zh-CN": "将片段关联到执法环节", "en": "Link a clip to an enforcement step"},
    "web.legal.link.step": {"zh-CN": "执法环节", "en": "Step"},
    "web.legal.link.step_id": {"zh-CN": "环节编号", "en": "Step id"},
    "web.legal.link.clip_id": {"zh-CN": "片段编号", "en": "Clip id"},
    "web.legal.link.clip_id_hint": {"zh-CN": "片段编号（UUID）", "en": "the clip's id (UUID)"},
    "web.legal.link.case_number": {"zh-CN": "案件编号", "en": "Case number"},
    "web.legal.link.find_steps": {"zh-CN": "查找环节", "en": "Find its steps"},
    "web.legal.link.submit": {"zh-CN": "关联", "en": "Link"},
    "web.legal.link.short": {"zh-CN": "关联到此环节", "en": "Link to this step"},
    "web.legal.link.no_steps": {"zh-CN": "本案还没有执法环节。", "en": "This case has no steps yet."},
    "web.legal.link.near": {
        "zh-CN": "{step}（{time}）前后 {hours} 小时内的未关联片段",
        "en": "Unlinked clips within {hours} h of {step} ({time})",
    },
    "web.legal.link.no_candidates": {
        "zh-CN": "各环节前后 {hours} 小时内没有未关联的片段；其他片段可填写片段编号关联。",
        "en": "No unlinked clips within {hours} h of the steps; link any other clip by its id.",
    },
    "web.legal.link.nearby_title": {"zh-CN": "时间相近的执法环节", "en": "Steps near the clip's time"},
    "web.legal.link.nearby": {
        "zh-CN": "片段时间前后 {hours} 小时内的执法环节：",
        "en": "Steps within {hours} h of the clip's time:",
    },
    "web.legal.link.no_nearby": {
        "zh-CN": "片段时间前后 {hours} 小时内没有执法环节；请按案件编号查找。",
        "en": "No step within {hours} h of the clip's time; find one by case number.",
    },
    "web.legal.link.by_case": {"zh-CN": "按案件编号查找", "en": "By case number"},
    "web.legal.link.by_step_id": {"zh-CN": "按环节编号关联", "en": "By step id"},
    "web.legal.link.no_case": {
        "zh-CN": "没有编号为“{case_number}”的案件，或该案件没有执法环节。",
        "en": "No case numbered '{case_number}', or it has no steps.",
    },
    "web.legal.back_to_clip": {"zh-CN": "← 返回片段", "en": "← Back to the clip"},
    "web.legal.hold.case_title": {"zh-CN": "法律保全（全案）", "en": "Legal hold on the case"},
    "web.legal.hold.case_explain": {
        "zh-CN": "对本案所有已关联片段设置保全：保全期间原始文件及其衍生文件不会被删除。每个片段可在其页面单独解除。",
        "en": "Holds every clip linked to the case: its original and derivatives cannot be deleted while held. "
              "Each clip's hold is lifted on its own page.",
    },
    "web.legal.hold.case_submit": {"zh-CN": "保全全案片段", "en": "Hold every clip"},
    "web.legal.hold.clip_title": {"zh-CN": "法律保全", "en": "Legal holds"},
    "web.legal.hold.clip_submit": {"zh-CN": "设置保全", "en": "Place a hold"},
    "web.legal.hold.by": {"zh-CN": "{who} 于 {when} 设置", "en": "set by {who} at {when}"},
    "web.legal.hold.clips_open": {"zh-CN": "{open}/{total} 个片段保全中", "en": "{open} of {total} clips held"},
    "web.legal.hold.open": {"zh-CN": "保全中", "en": "held"},
    "web.legal.hold.lifted": {"zh-CN": "已解除", "en": "lifted"},
    "web.legal.hold.lifted_by": {"zh-CN": "{who} 于 {when} 解除：{reason}", "en": "lifted by {who} at {when}: {reason}"},
    "web.legal.hold.of_case": {"zh-CN": "（全案保全）", "en": "(hold on the case)"},
    "web.legal.hold.none": {"zh-CN": "没有法律保全。", "en": "No legal holds."},
    "web.legal.hold.lift": {"zh-CN": "解除…", "en": "Lift…"},
    "web.legal.hold.lift_submit": {"zh-CN": "解除保全", "en": "Lift the hold"},
    "web.legal.decided_by": {"zh-CN": "{who} 于 {when} 决定", "en": "decided by {who} at {when}"},
    "web.legal.decisions.title": {"zh-CN": "人工关联决定", "en": "Manual link decisions"},
    "web.legal.decisions.none": {"zh-CN": "没有人工决定：关联均由自动规则得出。", "en": "No manual decisions: every link is the rule's."},
    "web.legal.done.link": {
        "zh-CN": "已将片段关联到环节“{step}”（案件 {case_number}），理由已记入保管链。",
        "en": "Linked the clip to step '{step}' (case {case_number}); the reason is in the custody log.",
    },
    "web.legal.done.unlink": {
        "zh-CN": "已解除片段与环节“{step}”（案件 {case_number}）的关联，理由已记入保管链；自动关联不会再恢复它。",
        "en": "Unlinked the clip from step '{step}' (case {case_number}); the reason is in the custody log and "
              "automatic linking will respect it.",
    },
    "web.legal.done.replay": {
        "zh-CN": "相同的决定已经存在，未重复记录。",
        "en": "That decision already stands; nothing new was recorded.",
    },
    "web.legal.done.withdraw": {
        "zh-CN": "已撤销人工决定，由自动规则重新判断：{now}。",
        "en": "Withdrew the decision; the automatic rule decided again: {now}.",
    },
    "web.legal.now.linked": {"zh-CN": "现为已关联", "en": "linked"},
    "web.legal.now.unlinked": {"zh-CN": "现为未关联", "en": "not linked"},
    "web.legal.done.case_hold": {
        "zh-CN": "已对案件 {case_number} 的 {count} 个片段设置法律保全。",
        "en": "Placed a legal hold on the {count} clips of case {case_number}.",
    },
    "web.legal.done.case_hold_replay": {
        "zh-CN": "案件 {case_number} 的 {count} 个片段已有相同理由的保全，未重复设置。",
        "en": "The {count} clips of case {case_number} already have a hold with this reason; nothing new was placed.",
    },
    "web.legal.done.clip_hold": {"zh-CN": "已设置法律保全。", "en": "Placed a legal hold."},
    "web.legal.done.clip_hold_replay": {
        "zh-CN": "已有相同理由的保全，未重复设置。", "en": "A hold with this reason already stands; nothing new was placed.",
    },
    "web.legal.done.lift": {
        "zh-CN": "已解除法律保全；如无其他保全或保存规则，片段将按保存期限处理。",
        "en": "Lifted the hold; unless another hold or rule keeps it, the clip follows its retention again.",
    },
    "web.legal.invalid.reason": {"zh-CN": "请填写理由（不能为空）。", "en": "Give a reason (it must not be blank)."},
    "web.legal.invalid.clip_id": {
        "zh-CN": "片段编号无效：请填写片段的编号（UUID）。",
        "en": "Not a clip id: give the clip's id (a UUID).",
    },
    "web.legal.invalid.step_id": {
        "zh-CN": "请选择执法环节，或填写有效的环节编号（UUID）。",
        "en": "Choose a step, or give a valid step id (a UUID).",
    },
    "web.legal.invalid.action": {"zh-CN": "操作无效：只能是关联或解除关联。", "en": "Invalid action: link or unlink."},
    "web.legal.invalid.include_review": {"zh-CN": "“包含审阅副本”的取值无效。", "en": "Invalid value for 'include review copies'."},
}

EXPORTS = {
    "web.export.title": {"zh-CN": "导出证据包", "en": "Evidence bundle"},
    "web.export.explain": {
        "zh-CN": "证据包含全部原始文件（导出时重新核验哈希）、案件与关联信息、保管链摘录及签名检查点和离线校验程序。",
        "en": "The bundle holds every original (hashes re-checked), the case and its links, the custody excerpt "
              "with a signed checkpoint, and the offline verifier.",
    },
    "web.export.include_review": {"zh-CN": "同时包含审阅副本", "en": "Include review copies"},
    "web.export.start": {"zh-CN": "开始导出", "en": "Start the export"},
    "web.export.started": {
        "zh-CN": "已开始导出证据包，完成后可在此下载。", "en": "The export has started; download it here when it is done.",
    },
    "web.export.none": {"zh-CN": "本案还没有导出过证据包。", "en": "No bundle of this case yet."},
    "web.export.with_review": {"zh-CN": "含审阅副本", "en": "with review copies"},
    "web.export.download": {"zh-CN": "下载", "en": "Download"},
    "web.export.page_title": {"zh-CN": "证据包 · {case_number}", "en": "Evidence bundle · {case_number}"},
    "web.export.progress": {"zh-CN": "导出进度", "en": "Export progress"},
    "web.export.wait": {
        "zh-CN": "正在复制并核验原始文件，页面会自动更新；可以离开本页，稍后在案件页下载。",
        "en": "Copying and re-checking the originals; this page updates itself. You may leave and download it "
              "from the case page later.",
    },
    "web.export.verify_hint": {
        "zh-CN": "下载后请核对文件的 SHA-256 与上面一致；包内 verify 程序可离线校验全部内容。",
        "en": "After downloading, check the file's SHA-256 against the one above; the verifier inside the bundle "
              "checks everything offline.",
    },
    "web.export.details": {"zh-CN": "导出信息", "en": "Details"},
    "web.export.back_to_case": {"zh-CN": "← 返回案件", "en": "← Back to the case"},
    "web.export.col.case": {"zh-CN": "案件", "en": "Case"},
    "web.export.col.created": {"zh-CN": "发起时间", "en": "Started"},
    "web.export.col.finished": {"zh-CN": "完成时间", "en": "Finished"},
    "web.export.col.by": {"zh-CN": "发起人", "en": "By"},
    "web.export.col.status": {"zh-CN": "状态", "en": "Status"},
    "web.export.col.size": {"zh-CN": "大小", "en": "Size"},
    "web.export.col.total": {"zh-CN": "录像总量", "en": "Recordings"},
    "web.export.col.review": {"zh-CN": "审阅副本", "en": "Review copies"},
    "web.export.col.id": {"zh-CN": "导出编号", "en": "Export id"},
    "web.export.yes": {"zh-CN": "包含", "en": "included"},
    "web.export.no": {"zh-CN": "不包含", "en": "not included"},
    **{f"web.export.status.{code}": {"zh-CN": zh, "en": en} for code, (zh, en) in _EXPORT_STATUS.items()},
}

UNLINKED = {
    "web.unlinked.title": {"zh-CN": "未关联片段", "en": "Unlinked clips"},
    "web.unlinked.explain": {
        "zh-CN": "尚未关联到任何执法环节的视频片段，按接收时间排列；接收超过 {hours} 小时仍未关联的标为超时，需要跟进。",
        "en": "Clips linked to no enforcement step, oldest first; those still unlinked {hours} h after they "
              "arrived are marked overdue and need follow-up.",
    },
    "web.unlinked.filter.station": {"zh-CN": "采集站", "en": "Station"},
    "web.unlinked.filter.any": {"zh-CN": "全部", "en": "any"},
    "web.unlinked.filter.device": {"zh-CN": "记录仪编号", "en": "Recorder serial"},
    "web.unlinked.filter.officer": {"zh-CN": "执法人员编号", "en": "Officer code"},
    "web.unlinked.filter.received_from": {"zh-CN": "接收日期从", "en": "Received from"},
    "web.unlinked.filter.received_to": {"zh-CN": "至", "en": "to"},
    "web.unlinked.filter.waiting": {"zh-CN": "等待时间", "en": "Waiting"},
    "web.unlinked.waiting.all": {"zh-CN": "全部", "en": "all"},
    "web.unlinked.waiting.overdue": {"zh-CN": "超过 {hours} 小时", "en": "more than {hours} h"},
    "web.unlinked.empty": {"zh-CN": "没有符合条件的未关联片段。", "en": "No unlinked clips match."},
    "web.unlinked.col.times": {"zh-CN": "录制时间", "en": "Recorded"},
    "web.unlinked.col.received": {"zh-CN": "接收 / 等待", "en": "Received / waiting"},
    "web.unlinked.col.why": {"zh-CN": "未关联原因", "en": "Why unlinked"},
    "web.unlinked.col.link": {"zh-CN": "人工关联", "en": "Link by hand"},
    "web.unlinked.raw": {"zh-CN": "记录仪时间", "en": "recorder clock"},
    "web.unlinked.corrected": {"zh-CN": "校正后", "en": "corrected"},
    "web.unlinked.unregistered": {"zh-CN": "未登记", "en": "unregistered"},
    "web.unlinked.waiting_hours": {"zh-CN": "已等待 {hours} 小时", "en": "waiting {hours} h"},
    "web.unlinked.link": {"zh-CN": "关联…", "en": "Link…"},
    "web.unlinked.nearby_steps": {"zh-CN": "查看时间相近的环节 →", "en": "Steps near its time →"},
    **{f"web.unlinked.status.{code}": {"zh-CN": zh, "en": en} for code, (zh, en) in _CLIP_STATUS.items()},
}

USERS = {
    "web.users.title": {"zh-CN": "用户管理", "en": "Users"},
    "web.users.create.title": {"zh-CN": "新建用户", "en": "New user"},
    "web.users.create.submit": {"zh-CN": "创建用户", "en": "Create the user"},
    "web.users.list": {"zh-CN": "全部用户（{count}）", "en": "All users ({count})"},
    "web.users.username": {"zh-CN": "用户名", "en": "User name"},
    "web.users.username_hint": {"zh-CN": "字母、数字、“.”、“_”或“-”", "en": "letters, digits, '.', '_' or '-'"},
    "web.users.display_name": {"zh-CN": "姓名", "en": "Display name"},
    "web.users.role": {"zh-CN": "角色", "en": "Role"},
    "web.users.choose_role": {"zh-CN": "— 请选择 —", "en": "— choose —"},
    "web.users.password": {"zh-CN": "密码", "en": "Password"},
    "web.users.password_hint": {"zh-CN": "至少 {min} 个字符", "en": "at least {min} characters"},
    "web.users.state": {"zh-CN": "状态", "en": "State"},
    "web.users.created": {"zh-CN": "创建时间", "en": "Created"},
    "web.users.actions": {"zh-CN": "操作", "en": "Actions"},
    "web.users.active": {"zh-CN": "启用", "en": "active"},
    "web.users.disabled": {"zh-CN": "已停用", "en": "disabled"},
    "web.users.you": {"zh-CN": "（当前登录）", "en": "(you)"},
    "web.users.change_role": {"zh-CN": "修改", "en": "Change"},
    "web.users.disable": {"zh-CN": "停用", "en": "Disable"},
    "web.users.enable": {"zh-CN": "启用", "en": "Enable"},
    "web.users.set_password": {"zh-CN": "重设密码…", "en": "Set password…"},
    "web.users.set_password_submit": {"zh-CN": "保存密码", "en": "Save"},
    "web.users.done.created": {"zh-CN": "已创建用户“{name}”（{role}）。", "en": "Created user '{name}' ({role})."},
    "web.users.done.role": {
        "zh-CN": "用户“{name}”的角色已改为{role}，下次请求即生效。",
        "en": "User '{name}' is now {role}, from their next request.",
    },
    "web.users.done.disabled": {
        "zh-CN": "已停用用户“{name}”：其网页登录和 API 令牌立即失效。",
        "en": "Disabled user '{name}': their page session and API tokens stop working at once.",
    },
    "web.users.done.enabled": {"zh-CN": "已启用用户“{name}”。", "en": "Enabled user '{name}'."},
    "web.users.done.password": {"zh-CN": "已为用户“{name}”设置新密码。", "en": "Set a new password for user '{name}'."},
    "web.users.not_found": {"zh-CN": "用户 {id} 不存在。", "en": "No user {id}."},
    "web.users.own_account": {
        "zh-CN": "不能修改自己（“{name}”）的角色或停用自己的账户，请由另一位管理员操作。",
        "en": "You cannot change the role of, or disable, your own account ('{name}'); ask another administrator.",
    },
    "web.users.unknown_role": {"zh-CN": "未知角色“{role}”；可选：{roles}。", "en": "Unknown role '{role}'; one of {roles}."},
    "web.users.invalid.username": {
        "zh-CN": "用户名须为 1–64 个字母、数字、“.”、“_”或“-”。",
        "en": "The user name must be 1–64 letters, digits, '.', '_' or '-'.",
    },
    "web.users.invalid.display_name": {"zh-CN": "姓名最多 100 个字符。", "en": "The display name is at most 100 characters."},
    "web.users.invalid.role": {"zh-CN": "请选择有效的角色。", "en": "Choose a valid role."},
    "web.users.invalid.password": {
        "zh-CN": f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符。",
        "en": f"The password needs at least {MIN_PASSWORD_LENGTH} characters.",
    },
    "web.users.invalid.active": {"zh-CN": "启用/停用的取值无效。", "en": "Invalid value for enabled/disabled."},
}

MESSAGES = {**LEGAL, **EXPORTS, **UNLINKED, **USERS}
