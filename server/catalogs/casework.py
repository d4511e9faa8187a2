"""Messages about units, officers, cases, steps and batch sync."""

MESSAGES: dict[str, dict[str, str]] = {
    "casework.bad_code": {
        "zh-CN": "{name}“{value}”无效：应为 1–64 个字母、数字或“.”“_”“-”。",
        "en": "{name} '{value}' is not valid: use 1-64 letters, digits, '.', '_' or '-'.",
    },
    "casework.time_offset": {
        "zh-CN": "应为带 UTC 偏移的 ISO 8601 时间，例如 2026-11-20T10:00:00+08:00（缺少偏移的时间有歧义）。",
        "en": "Expected an ISO 8601 time that includes the UTC offset, e.g. 2026-11-20T10:00:00+08:00.",
    },
    "casework.end_before_start": {
        "zh-CN": "结束时间 ended_at {end} 早于开始时间 started_at {start}；结束时间不得早于开始时间。",
        "en": "ended_at {end} is before started_at {start}; the end must be at or after the start.",
    },
    "casework.nothing_to_change": {
        "zh-CN": "请求未包含任何要修改的字段；可修改：{fields}。",
        "en": "Nothing to change: give at least one of {fields}.",
    },
    "casework.unknown_unit": {
        "zh-CN": "单位“{unit}”不存在；请先用 PUT /api/v1/units/{unit} 登记该单位。",
        "en": "There is no unit '{unit}'; register it first with PUT /api/v1/units/{unit}.",
    },
    "casework.unit_not_found": {"zh-CN": "单位“{unit}”不存在。", "en": "There is no unit '{unit}'."},
    "casework.unit_cycle": {
        "zh-CN": "单位“{unit}”不能以“{parent}”为上级：“{parent}”本身隶属于“{unit}”（会形成循环）。",
        "en": "Unit '{unit}' cannot have parent '{parent}': '{parent}' is itself under '{unit}' (a cycle).",
    },
    "casework.officer_not_found": {
        "zh-CN": "执法人员“{officer}”不存在。",
        "en": "There is no officer '{officer}'.",
    },
    "casework.unknown_officers": {
        "zh-CN": "执法人员 {officers} 不存在；请先用 PUT /api/v1/officers/<执法证号> 登记。",
        "en": "No officer {officers}; register them first with PUT /api/v1/officers/<badge number>.",
    },
    "casework.unknown_devices": {
        "zh-CN": "序列号为 {serials} 的执法记录仪未登记；请先用 PUT /api/v1/devices/<序列号> 登记。",
        "en": "No recorder with serial {serials}; register it first with PUT /api/v1/devices/<serial>.",
    },
    "casework.bad_agency": {
        "zh-CN": "办案机关“{agency}”不是单位“{unit}”本身或其上级单位；可选：{allowed}。",
        "en": "Agency '{agency}' is neither unit '{unit}' nor one of its parent units; expected one of {allowed}.",
    },
    "casework.unit_outside_agency": {
        "zh-CN": "单位“{unit}”不隶属于本案办案机关“{agency}”；案件只能转给该机关或其下级单位。",
        "en": "Unit '{unit}' is not under the case's agency '{agency}'; a case can only move within its agency.",
    },
    "casework.case_number_taken": {
        "zh-CN": "案件编号“{number}”在办案机关“{agency}”中已被案件 {id} 使用。",
        "en": "Case number '{number}' is already used in agency '{agency}' by case {id}.",
    },
    "casework.id_reused": {
        "zh-CN": "{what} {id} 已存在且内容不同；新建请换用新的编号，重试请原样重发首次提交的内容。",
        "en": "{what} {id} already exists with different content; use a new id for a new one, "
              "or resend exactly the original body to retry.",
    },
    "casework.case_not_found": {"zh-CN": "案件 {id} 不存在。", "en": "There is no case {id}."},
    "casework.unknown_case": {
        "zh-CN": "案件 {id} 不存在；请先创建案件，再添加环节。",
        "en": "There is no case {id}; create the case before its steps.",
    },
    "casework.step_not_found": {"zh-CN": "执法环节 {id} 不存在。", "en": "There is no step {id}."},
    "casework.unknown_step_type": {
        "zh-CN": "环节类型“{type}”未配置；可用类型：{valid}。",
        "en": "Unknown step type '{type}'; valid codes: {valid}.",
    },
    "casework.case_id_fixed": {
        "zh-CN": "环节不能改属其他案件（它属于案件 {case}）；请在案件 {new} 中新建环节。",
        "en": "A step cannot move to another case (it belongs to case {case}); create a new step in case {new}.",
    },
    "casework.closed_at_needs_closed": {
        "zh-CN": "只有已结案（status 为 closed）的案件才能有结案时间 closed_at。",
        "en": "closed_at is only for a closed case; set status to closed as well.",
    },
    "casework.closed_before_opened": {
        "zh-CN": "结案时间 {closed} 早于立案时间 {opened}。",
        "en": "closed_at {closed} is before opened_at {opened}.",
    },
    "casework.if_match_required": {
        "zh-CN": "修改需带 If-Match 头，值为上次读取到的版本（GET 返回的 ETag），例如 If-Match: \"3\"。",
        "en": "Updates need an If-Match header with the version you last read (the ETag of a GET), "
              "e.g. If-Match: \"3\".",
    },
    "casework.if_match_invalid": {
        "zh-CN": "If-Match“{value}”不是版本号；应为带引号的数字，例如 \"3\"。",
        "en": "If-Match '{value}' is not a version; expected a number in quotes, e.g. \"3\".",
    },
    "casework.stale_version": {
        "zh-CN": "{what} {id} 当前版本为 {current}，不是 {given}（读取后已被修改，或版本号有误）。请重新读取，"
                 "在新版本上重做修改，并发送 If-Match: \"{current}\"。",
        "en": "{what} {id} is at version {current}, not {given} (it changed after you read it, or the version "
              "is wrong). Read it again, redo your change and send If-Match: \"{current}\".",
    },
    "casework.what_case": {"zh-CN": "案件", "en": "Case"},
    "casework.what_step": {"zh-CN": "执法环节", "en": "Step"},
    "casework.sync_unknown_op": {
        "zh-CN": "未知操作“{op}”；可用操作：{valid}。",
        "en": "Unknown operation '{op}'; expected one of {valid}.",
    },
    "casework.sync_forbidden": {
        "zh-CN": "角色“{role}”不能执行操作 {op}；允许的角色：{allowed}。",
        "en": "Role '{role}' may not do {op}; allowed roles: {allowed}.",
    },
    "casework.sync_id_missing": {
        "zh-CN": "操作 {op} 需要在 id 中给出要修改的记录编号。",
        "en": "{op} needs the id of the record to change in 'id'.",
    },
    "casework.sync_version_missing": {
        "zh-CN": "操作 {op} 需要在 version 中给出上次读取到的版本。",
        "en": "{op} needs the version you last read in 'version'.",
    },
    "casework.sync_id_mismatch": {
        "zh-CN": "id {id} 与正文中的 id {body_id} 不一致。",
        "en": "id {id} differs from the body's id {body_id}.",
    },
    "casework.bad_uuid": {
        "zh-CN": "“{value}”不是 UUID。",
        "en": "'{value}' is not a UUID.",
    },
}
