"""Messages about devices, assignments, clock reports, links and work queues."""

MESSAGES: dict[str, dict[str, str]] = {
    "device.not_found": {
        "zh-CN": "执法记录仪“{serial}”未登记。请管理员先登记：PUT /api/v1/devices/{serial}。",
        "en": "Recorder '{serial}' is not registered. An administrator registers it with PUT /api/v1/devices/{serial}.",
    },
    "device.time_in_future": {
        "zh-CN": "时间 {time} 晚于服务器当前时间。请检查设备时钟和时区（须带 UTC 偏移，如 +08:00）。",
        "en": "The time {time} is later than the server's clock. Check the device's clock and time zone "
              "(include the UTC offset, e.g. +08:00).",
    },
    "assignment.unknown_officer": {
        "zh-CN": "警号“{officer}”的执法人员不存在。请先登记（PUT /api/v1/officers/{officer}）或核对警号。",
        "en": "No officer with badge number '{officer}'. Register them first (PUT /api/v1/officers/{officer}) "
              "or check the number.",
    },
    "assignment.inactive_officer": {
        "zh-CN": "执法人员“{officer}”已停用，不能领用记录仪。",
        "en": "Officer '{officer}' is inactive and cannot sign out a recorder.",
    },
    "assignment.already_out": {
        "zh-CN": "记录仪“{serial}”自 {since} 起已由“{officer}”领用（领用记录 {id}）。请先归还（sign-in）再领用。",
        "en": "Recorder '{serial}' has been signed out to '{officer}' since {since} (assignment {id}). "
              "Sign it in before signing it out again.",
    },
    "assignment.not_out": {
        "zh-CN": "记录仪“{serial}”当前未被领用，无需归还（上次归还时间：{last}）。",
        "en": "Recorder '{serial}' is not signed out, so it cannot be signed in (last signed in: {last}).",
    },
    "assignment.end_before_start": {
        "zh-CN": "归还时间 {end} 早于领用时间 {start}。",
        "en": "The end {end} is before the start {start}.",
    },
    "assignment.overlap": {
        "zh-CN": "与记录仪“{serial}”的领用记录 {id} 重叠：{start} 至 {end} 由“{officer}”领用。一台记录仪同一时间只能由一人领用；"
                 "如该记录有误，请管理员更正（PATCH /api/v1/devices/{serial}/assignments/{id}）。",
        "en": "Overlaps assignment {id} of recorder '{serial}': '{officer}' had it from {start} to {end}. A recorder "
              "is with one officer at a time; if that entry is wrong, an administrator corrects it "
              "(PATCH /api/v1/devices/{serial}/assignments/{id}).",
    },
    "assignment.id_reused": {
        "zh-CN": "编号 {id} 已用于另一条内容不同的领用记录。重试请使用原内容；新记录请使用新编号。",
        "en": "Id {id} is already used by a different assignment. Retry with the same content, or use a new id "
              "for a new entry.",
    },
    "assignment.not_found": {
        "zh-CN": "记录仪“{serial}”没有编号为 {id} 的领用记录。",
        "en": "Recorder '{serial}' has no assignment {id}.",
    },
    "clock.conflict": {
        "zh-CN": "记录仪“{serial}”在设备时间 {device_time} 已有校时记录 {id}，对应标准时间 {station_time}，与本次不同。"
                 "同一设备时间只能有一个测量值。",
        "en": "Recorder '{serial}' already has clock report {id} at device time {device_time}, measured against "
              "true time {station_time}, which differs from this one. One device time has one measurement.",
    },
    "clock.implausible": {
        "zh-CN": "设备时间与标准时间相差 {days} 天，超过 {limit} 天的合理范围。请核对两个时间（及其时区）。",
        "en": "The device time is {days} days away from true time, beyond the plausible {limit} days. "
              "Check both times (and their UTC offsets).",
    },
    "link.unknown_clip": {"zh-CN": "视频 {id} 不存在。", "en": "No clip {id}."},
    "link.unknown_step": {"zh-CN": "执法环节 {id} 不存在。", "en": "No enforcement step {id}."},
    "link.not_found": {
        "zh-CN": "关联 {id} 不存在（若刚撤回，该人工决定已不存在；请按 clip_id 查询 GET /api/v1/links）。",
        "en": "No link {id} (a decision that was withdrawn no longer exists; look up GET /api/v1/links?clip_id=...).",
    },
    "link.not_manual": {
        "zh-CN": "关联 {id} 是自动关联，没有可撤回的人工决定。如需解除，请提交 action=unlink 的人工决定。",
        "en": "Link {id} is automatic: there is no manual decision to withdraw. To remove it, decide action=unlink.",
    },
    "queue.unknown_step_type": {
        "zh-CN": "环节类型“{type}”未在 config.yaml 的 step_types 中配置。",
        "en": "Step type '{type}' is not configured in config.yaml's step_types.",
    },
    "queue.unlinked.excluded": {
        "zh-CN": "法制人员已将该视频与相关环节解除关联；如应属于其他环节，请人工关联。",
        "en": "Legal staff unlinked this clip from its step; if it belongs to another step, link it manually.",
    },
    "queue.unlinked.device_unregistered": {
        "zh-CN": "记录仪“{serial}”未登记，且视频未带警号：请登记该记录仪并补录领用记录。",
        "en": "Recorder '{serial}' is not registered and the clip names no officer: register the recorder and "
              "enter who had it.",
    },
    "queue.unlinked.no_officer": {
        "zh-CN": "录制时记录仪“{serial}”没有领用记录，且视频未带警号：请补录当时的领用人。",
        "en": "Recorder '{serial}' was signed out to nobody when this was recorded and the clip names no officer: "
              "enter who had it.",
    },
    "queue.unlinked.no_step": {
        "zh-CN": "该视频的执法人员或记录仪在录制时间附近没有执法环节：请补录环节，或核对环节时间和记录仪时钟。",
        "en": "No enforcement step of the clip's officer or recorder is near its time: enter the step, or check "
              "the step's times and the recorder's clock.",
    },
}
