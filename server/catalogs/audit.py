"""Messages of the completeness audit: the reasons a step passes, fails or draws a warning, why
each clip counted or not, and the API's and CLI's own messages."""

MESSAGES: dict[str, dict[str, str]] = {
    # step statuses
    "audit.status.pass": {"zh-CN": "合格", "en": "pass"},
    "audit.status.warning": {"zh-CN": "警示", "en": "warning"},
    "audit.status.fail": {"zh-CN": "不合格", "en": "fail"},
    "audit.status.not_required": {"zh-CN": "无需录像", "en": "not required"},
    "audit.requirement.continuous": {"zh-CN": "全程连续录像", "en": "continuous recording"},
    "audit.requirement.recorded": {"zh-CN": "须有录像", "en": "recording required"},
    "audit.requirement.none": {"zh-CN": "无需录像（书面记录）", "en": "no recording (paper record)"},
    "audit.requirement.unknown": {"zh-CN": "未知环节类型", "en": "unknown step type"},
    "audit.change.newly_failing": {"zh-CN": "新增不合格", "en": "newly failing"},
    "audit.change.still_failing": {"zh-CN": "仍不合格", "en": "still failing"},
    "audit.change.new": {"zh-CN": "新环节", "en": "new step"},
    "audit.change.fixed": {"zh-CN": "已整改", "en": "fixed"},
    # step reasons
    "audit.reason.unknown_step_type": {
        "zh-CN": "环节类型“{type}”不在 config.yaml 的 step_types 中，无法判定应否录像。",
        "en": "Step type '{type}' is not in config.yaml's step_types, so its requirement is unknown."},
    "audit.reason.no_footage": {
        "zh-CN": "该环节没有关联任何录像。",
        "en": "No recording is linked to this step."},
    "audit.reason.no_usable_footage": {
        "zh-CN": "关联的 {clips} 段录像均不可用（原因见各录像）。",
        "en": "None of the {clips} linked recordings is usable (see each recording for why)."},
    "audit.reason.gap_too_long": {
        "zh-CN": "录像中断 {seconds} 秒（{from_at} 至 {to_at}），超过允许的 {limit} 秒。",
        "en": "Recording is missing for {seconds} s ({from_at} to {to_at}), more than the {limit} s allowed."},
    "audit.reason.too_few_devices": {
        "zh-CN": "须至少 {required} 台记录仪各自覆盖环节时间的 {share_percent}%，实际只有 {counted} 台（{devices}）。",
        "en": "At least {required} recorders must each cover {share_percent}% of the step; only {counted} did "
              "({devices})."},
    "audit.reason.within_buffer_only": {
        "zh-CN": "录像只落在环节前后 {minutes} 分钟的关联缓冲内，未与登记的环节时间重叠，请核对环节时间。",
        "en": "Footage lies only within the {minutes}-minute link buffer around the step, not in its recorded "
              "times; check the step's times."},
    "audit.reason.late_upload": {
        "zh-CN": "{clips} 段录像超过 {deadline_hours} 小时上传期限（最迟晚 {worst_hours} 小时）。",
        "en": "{clips} recording(s) arrived after the {deadline_hours}-hour upload deadline (latest by "
              "{worst_hours} h)."},
    "audit.reason.obstructed_time": {
        "zh-CN": "有 {seconds} 秒画面被遮挡、过暗或模糊，未计入。",
        "en": "{seconds} s of footage were covered, dark or blurred and were not counted."},
    "audit.reason.manual_links": {
        "zh-CN": "{clips} 段录像由法制人员人工关联。",
        "en": "{clips} recording(s) were linked by legal staff."},
    "audit.reason.manual_exclusions": {
        "zh-CN": "{clips} 段录像经法制人员决定排除，未计入。",
        "en": "{clips} recording(s) were excluded by legal staff and were not counted."},
    "audit.reason.uncorrected_clock": {
        "zh-CN": "{clips} 段计入的录像所用记录仪尚无对时记录，时间未经校正。",
        "en": "{clips} counted recording(s) come from recorders with no clock report; their times are uncorrected."},
    "audit.reason.awaiting_upload": {
        "zh-CN": "上传期限 {until_at} 尚未到，录像可能仍在上传，暂不判为不合格。",
        "en": "The upload deadline ({until_at}) has not passed and footage may still arrive, so this is not yet "
              "a failure."},
    "audit.reason.awaiting_processing": {
        "zh-CN": "{clips} 段关联录像仍在校验或分析中，暂不判为不合格。",
        "en": "{clips} linked recording(s) are still being verified or analysed, so this is not yet a failure."},
    # why a clip counted or not
    "audit.clip.counted": {
        "zh-CN": "计入：环节内可用 {covered_seconds} 秒。",
        "en": "Counted: {covered_seconds} s usable within the step."},
    "audit.clip.excluded": {
        "zh-CN": "不计入：{decided_by} 决定排除（{reason}）。",
        "en": "Not counted: excluded by {decided_by} ({reason})."},
    "audit.clip.original_missing": {
        "zh-CN": "不计入：原始文件已删除。", "en": "Not counted: the original has been deleted."},
    "audit.clip.integrity_failed": {
        "zh-CN": "不计入：完整性校验失败（哈希不符）。", "en": "Not counted: the integrity check failed (hash mismatch)."},
    "audit.clip.not_verified": {
        "zh-CN": "暂不计入：尚未完成哈希校验。", "en": "Not counted yet: the hashes are not verified yet."},
    "audit.clip.unplayable": {
        "zh-CN": "不计入：文件无法播放（已保留为证据）。", "en": "Not counted: the file cannot be played (kept as evidence)."},
    "audit.clip.custody_broken": {
        "zh-CN": "不计入：其保管记录位于已损坏的保管链之后。",
        "en": "Not counted: its custody events lie in a part of the custody log that is not intact."},
    "audit.clip.not_video": {
        "zh-CN": "不计入：不是视频（{kind}）。", "en": "Not counted: not a video ({kind})."},
    "audit.clip.not_analysed": {
        "zh-CN": "暂不计入：遮挡分析尚未完成。", "en": "Not counted yet: the obstruction analysis has not finished."},
    "audit.clip.no_duration": {
        "zh-CN": "不计入：无法确定录像时长。", "en": "Not counted: its duration is unknown."},
    "audit.clip.outside_step": {
        "zh-CN": "不计入：校正后的录像时间与环节时间不重叠。",
        "en": "Not counted: its corrected times do not overlap the step."},
    "audit.clip.obstructed": {
        "zh-CN": "不计入：与环节重叠的画面全部被遮挡、过暗或模糊。",
        "en": "Not counted: all of its footage within the step is covered, dark or blurred."},
    "audit.clip.late": {
        "zh-CN": "（上传晚 {late_hours} 小时）", "en": " (uploaded {late_hours} h late)"},
    # API and CLI
    "audit.not_found": {"zh-CN": "找不到稽核“{id}”。", "en": "No audit '{id}'."},
    "audit.not_done": {
        "zh-CN": "稽核 {id} 尚未完成（状态 {status}，进度 {percent}%），完成后再下载报告。",
        "en": "Audit {id} is not finished (status {status}, {percent}% done); download the report when it is done."},
    "audit.period_order": {
        "zh-CN": "起始日期 {start} 晚于截止日期 {end}。", "en": "The start date {start} is after the end date {end}."},
    "audit.period_too_long": {
        "zh-CN": "稽核期间最长 {days} 天。", "en": "An audit covers at most {days} days."},
    "audit.unknown_unit": {"zh-CN": "找不到单位“{code}”。", "en": "No unit '{code}'."},
    "audit.unknown_officer": {"zh-CN": "找不到执法人员“{code}”。", "en": "No officer '{code}'."},
    "audit.unknown_case": {"zh-CN": "找不到案件“{case}”。", "en": "No case '{case}'."},
    "audit.ambiguous_case": {
        "zh-CN": "案号“{case}”在多个单位下都有案件（{agencies}），请改用案件 ID。",
        "en": "Case number '{case}' exists in several agencies ({agencies}); give the case id instead."},
    "audit.cli.done": {
        "zh-CN": "稽核 {id} 完成：{required} 个须录像环节，合格 {passed}，警示 {warnings}，不合格 {failed}；报告已写入 {out}",
        "en": "Audit {id} done: {required} steps needing footage, {passed} pass, {warnings} warnings, {failed} fail; "
              "report written to {out}"},
    "audit.cli.failed": {"zh-CN": "稽核失败：{error}", "en": "The audit failed: {error}"},
    "audit.cli.progress": {"zh-CN": "稽核环节", "en": "Auditing steps"},
    # reports (workers/audit/reports)
    "audit.report.title": {"zh-CN": "执法全过程记录完整性稽核报告", "en": "Completeness audit of enforcement recordings"},
    "audit.report.generated": {"zh-CN": "报告生成于 {time}（{zone}）", "en": "Report generated {time} ({zone})"},
    "audit.report.all": {"zh-CN": "全部", "en": "all"},
    "audit.report.none": {"zh-CN": "无", "en": "none"},
    "audit.report.yes": {"zh-CN": "是", "en": "yes"},
    "audit.report.no": {"zh-CN": "否", "en": "no"},
    "audit.report.section.run": {"zh-CN": "稽核范围", "en": "Scope of the audit"},
    "audit.report.section.totals": {"zh-CN": "总体情况", "en": "Totals"},
    "audit.report.section.charts": {"zh-CN": "图表", "en": "Charts"},
    "audit.report.section.diff": {"zh-CN": "与上次稽核比较", "en": "Compared with the previous audit"},
    "audit.report.section.custody": {"zh-CN": "保管链状态", "en": "Custody log"},
    "audit.report.section.by_unit": {"zh-CN": "按单位", "en": "By unit"},
    "audit.report.section.by_officer": {
        "zh-CN": "按执法人员（合规率最低的 {count} 名）", "en": "By officer (the {count} lowest rates)"},
    "audit.report.section.by_step_type": {"zh-CN": "按环节类型", "en": "By step type"},
    "audit.report.section.weekly": {"zh-CN": "每周趋势", "en": "Weekly trend"},
    "audit.report.section.rules": {"zh-CN": "适用的稽核规则（config.yaml）", "en": "Rules applied (config.yaml)"},
    "audit.report.section.findings": {"zh-CN": "稽核发现（{count} 条）", "en": "Findings ({count})"},
    "audit.report.findings_note": {
        "zh-CN": "列出不合格和警示的环节，以及上次不合格、本次已整改的环节；合格环节只计入统计。",
        "en": "Listed: every step that fails or draws a warning, and every step that failed last time and is "
              "fixed now; passing steps count only in the figures."},
    "audit.report.findings_none": {"zh-CN": "没有需要列出的环节。", "en": "There is no step to list."},
    "audit.report.officers_more": {
        "zh-CN": "另有 {count} 名执法人员合规率较高，未列出；JSON 报告列出全部人员。",
        "en": "{count} more officers, with higher rates, are not listed; the JSON report lists them all."},
    "audit.report.chart.by_step_type": {"zh-CN": "各环节类型合规情况", "en": "Compliance by step type"},
    "audit.report.chart.by_unit": {"zh-CN": "各单位合规情况（含下级单位）", "en": "Compliance by unit (with sub-units)"},
    "audit.report.chart.weekly": {"zh-CN": "每周合规率", "en": "Compliance rate per week"},
    "audit.report.chart.empty": {
        "zh-CN": "本次稽核范围内没有须录像的环节。", "en": "No step in this audit needs footage."},
    "audit.report.field.id": {"zh-CN": "稽核编号", "en": "Audit id"},
    "audit.report.field.kind": {"zh-CN": "发起方式", "en": "Started by"},
    "audit.report.field.status": {"zh-CN": "状态", "en": "Status"},
    "audit.report.field.period": {"zh-CN": "稽核期间", "en": "Period"},
    "audit.report.field.timezone": {"zh-CN": "时区", "en": "Time zone"},
    "audit.report.field.unit": {"zh-CN": "单位（含下级单位）", "en": "Unit (with sub-units)"},
    "audit.report.field.officer": {"zh-CN": "执法人员", "en": "Officer"},
    "audit.report.field.case": {"zh-CN": "案件", "en": "Case"},
    "audit.report.field.requested_by": {"zh-CN": "发起人", "en": "Requested by"},
    "audit.report.field.created": {"zh-CN": "创建时间", "en": "Created"},
    "audit.report.field.started": {"zh-CN": "开始时间", "en": "Started"},
    "audit.report.field.finished": {"zh-CN": "完成时间", "en": "Finished"},
    "audit.report.field.previous_run": {"zh-CN": "上次稽核", "en": "Previous audit"},
    "audit.report.field.previous_finished": {"zh-CN": "上次稽核完成时间", "en": "Previous audit finished"},
    "audit.report.kind.nightly": {"zh-CN": "每晚自动稽核", "en": "nightly schedule"},
    "audit.report.kind.api": {"zh-CN": "接口", "en": "API"},
    "audit.report.kind.cli": {"zh-CN": "命令行", "en": "command line"},
    "audit.report.run_status.queued": {"zh-CN": "排队中", "en": "queued"},
    "audit.report.run_status.running": {"zh-CN": "进行中", "en": "running"},
    "audit.report.run_status.done": {"zh-CN": "已完成", "en": "done"},
    "audit.report.run_status.failed": {"zh-CN": "失败", "en": "failed"},
    "audit.report.total.steps": {"zh-CN": "环节总数", "en": "Steps"},
    "audit.report.total.not_required": {"zh-CN": "无需录像", "en": "Needing no footage"},
    "audit.report.total.required": {"zh-CN": "须录像", "en": "Needing footage"},
    "audit.report.total.rate": {"zh-CN": "合规率", "en": "Compliance rate"},
    "audit.report.diff.none": {
        "zh-CN": "没有同一范围的上次稽核可比较。", "en": "There is no earlier audit of the same scope to compare with."},
    "audit.report.custody.intact": {
        "zh-CN": "保管链完整：截至第 {head_seq} 条事件均已核验。", "en": "The custody log is intact up to event {head_seq}."},
    "audit.report.custody.broken": {
        "zh-CN": "保管链自第 {seq} 条事件起不完整（{problem}）：{clips} 段录像因此不计入。",
        "en": "The custody log is not intact from event {seq} on ({problem}): {clips} recording(s) do not count "
              "because of it."},
    "audit.report.custody.checkpoint": {
        "zh-CN": "最近的签名检查点：{time}，覆盖 {count} 条事件。",
        "en": "Last signed checkpoint: {time}, covering {count} events."},
    "audit.report.custody.no_checkpoint": {"zh-CN": "尚无签名检查点。", "en": "There is no signed checkpoint yet."},
    "audit.report.custody.alerts": {
        "zh-CN": "未确认的保管链告警：{count} 条。", "en": "Unacknowledged custody alerts: {count}."},
    "audit.report.col.case_number": {"zh-CN": "案号", "en": "Case number"},
    "audit.report.col.step_id": {"zh-CN": "环节编号", "en": "Step id"},
    "audit.report.col.step_type": {"zh-CN": "环节类型", "en": "Step type"},
    "audit.report.col.unit": {"zh-CN": "单位", "en": "Unit"},
    "audit.report.col.officers": {"zh-CN": "执法人员", "en": "Officers"},
    "audit.report.col.started": {"zh-CN": "开始（{zone}）", "en": "Started ({zone})"},
    "audit.report.col.ended": {"zh-CN": "结束（{zone}）", "en": "Ended ({zone})"},
    "audit.report.col.requirement": {"zh-CN": "录像要求", "en": "Requirement"},
    "audit.report.col.status": {"zh-CN": "结论", "en": "Status"},
    "audit.report.col.change": {"zh-CN": "与上次比较", "en": "Change"},
    "audit.report.col.covered_share": {"zh-CN": "覆盖比例（%）", "en": "Covered (%)"},
    "audit.report.col.longest_gap": {"zh-CN": "最长中断（秒）", "en": "Longest gap (s)"},
    "audit.report.col.devices": {"zh-CN": "计入记录仪/要求", "en": "Recorders counted / required"},
    "audit.report.col.late_uploads": {"zh-CN": "逾期上传", "en": "Late uploads"},
    "audit.report.col.clips": {"zh-CN": "关联录像/计入", "en": "Clips linked / counted"},
    "audit.report.col.reasons": {"zh-CN": "原因", "en": "Reasons"},
    "audit.report.col.name": {"zh-CN": "名称", "en": "Name"},
    "audit.report.col.own": {"zh-CN": "本单位", "en": "Own cases"},
    "audit.report.col.with_sub_units": {"zh-CN": "含下级单位", "en": "With sub-units"},
    "audit.report.col.officer": {"zh-CN": "执法人员", "en": "Officer"},
    "audit.report.col.week": {"zh-CN": "周（自周一）", "en": "Week (from Monday)"},
    "audit.report.col.min_devices": {"zh-CN": "最少记录仪", "en": "Minimum recorders"},
    "audit.report.col.max_gap_seconds": {"zh-CN": "允许中断（秒）", "en": "Gap allowed (s)"},
    "audit.report.col.device_min_share": {"zh-CN": "每台须覆盖（%）", "en": "Each recorder covers (%)"},
    "audit.report.col.upload_deadline_hours": {"zh-CN": "上传期限（小时）", "en": "Upload deadline (h)"},
    "audit.report.col.link_buffer_minutes": {"zh-CN": "关联缓冲（分钟）", "en": "Link buffer (min)"},
    "audit.report.col.device_shares": {"zh-CN": "各记录仪覆盖", "en": "Coverage per recorder"},
    "audit.report.col.clip": {"zh-CN": "录像", "en": "Recording"},
    "audit.report.col.device": {"zh-CN": "记录仪", "en": "Recorder"},
    "audit.report.col.recorded": {"zh-CN": "录制时间（已校正）", "en": "Recorded (corrected)"},
    "audit.report.col.clock_offset": {"zh-CN": "时钟偏差（秒）", "en": "Clock offset (s)"},
    "audit.report.col.received": {"zh-CN": "接收时间", "en": "Received"},
    "audit.report.col.clip_status": {"zh-CN": "处理状态", "en": "Processing status"},
    "audit.report.col.link": {"zh-CN": "关联方式", "en": "Link"},
    "audit.report.col.counted": {"zh-CN": "是否计入", "en": "Counted"},
    "audit.report.col.why": {"zh-CN": "说明", "en": "Why"},
    "audit.report.link.auto": {"zh-CN": "自动关联", "en": "automatic"},
    "audit.report.link.manual": {"zh-CN": "人工关联（{decided_by}）", "en": "by hand ({decided_by})"},
    "audit.report.clips_considered": {"zh-CN": "所考虑的 {count} 段录像", "en": "{count} recording(s) considered"},
}
