"""Messages of the collection-station agent (`fullrecord station ...`): the reasons it records
for a file, the steps it names when the server answers, and its command-line output."""

MESSAGES: dict[str, dict[str, str]] = {
    "station.reason.deleted": {
        "zh-CN": "文件在上传完成前被删除",
        "en": "deleted before its upload finished",
    },
    "station.reason.truncated": {
        "zh-CN": "文件在上传完成前被截短（{before} 字节 → {after} 字节）",
        "en": "truncated from {before} to {after} bytes before its upload finished",
    },
    "station.reason.changed": {
        "zh-CN": "文件在计算哈希后发生变化（{before} 字节 → {after} 字节），将在稳定后重新计算哈希",
        "en": "changed after it was hashed ({before} -> {after} bytes); hashed again once stable",
    },
    "station.reason.checksum": {
        "zh-CN": "服务器连续 {times} 次拒收偏移 {offset} 处数据块的校验和（传输中数据损坏），稍后重新读取并重传",
        "en": "the server rejected the checksum of the chunk at offset {offset} {times} times "
              "(damaged in transit); re-read and re-sent later",
    },
    "station.reason.whole_file": {
        "zh-CN": "服务器收到的全部字节的 SHA-256 与计算值不符（读取的数据与计算哈希时不同），将重新计算哈希并重传",
        "en": "the SHA-256 of the bytes the server received is not the one computed (the file read "
              "differently than when hashed); hashed and sent again",
    },
    "station.reason.whole_file_repeated": {
        "zh-CN": "服务器收到的字节与计算的 SHA-256 已连续 {times} 次不符，可能是本机磁盘读取错误，请检查磁盘后重试",
        "en": "the bytes the server received differed from the computed SHA-256 {times} times in a row; "
              "the station's disk may be failing: check it, then retry",
    },
    "station.reason.receipt_mismatch": {
        "zh-CN": "服务器回执的 SHA-256 {receipt} 与文件的 {sha256} 不符，未视为完成",
        "en": "the receipt's SHA-256 {receipt} is not the file's {sha256}; not done",
    },
    "station.reason.unreadable": {
        "zh-CN": "无法读取文件：{error}",
        "en": "cannot read the file: {error}",
    },
    "station.reason.server": {
        "zh-CN": "{step}失败：{detail}",
        "en": "{step} failed: {detail}",
    },
    "station.reason.clock_file": {
        "zh-CN": "时钟文件无法使用：{error}",
        "en": "clock file unusable: {error}",
    },
    "station.step.create": {"zh-CN": "创建上传", "en": "creating the upload"},
    "station.step.resume": {"zh-CN": "续传", "en": "resuming the upload"},
    "station.step.send": {"zh-CN": "发送数据", "en": "sending bytes"},
    "station.step.receipt": {"zh-CN": "获取回执", "en": "asking for the receipt"},
    "station.step.read_upload": {"zh-CN": "查询上传状态", "en": "reading the upload"},
    "station.step.confirm": {"zh-CN": "核对服务器上的片段", "en": "reading back the received clip"},
    "station.step.terminate": {"zh-CN": "终止上传", "en": "terminating the upload"},
    "station.step.clock": {"zh-CN": "上报记录仪时钟", "en": "reporting the recorder's clock"},
    "station.step.status": {"zh-CN": "上报采集站状态", "en": "reporting the agent's status"},
    "station.cli.token_file": {
        "zh-CN": "无法读取令牌文件 {path}：{error}。请把 `fullrecord admin add-station` 输出的最后一行写入该文件。",
        "en": "cannot read the token file {path}: {error}. Put the last line printed by "
              "`fullrecord admin add-station` in it.",
    },
    "station.cli.token_empty": {
        "zh-CN": "令牌文件 {path} 是空的。请把 `fullrecord admin add-station` 输出的最后一行写入该文件。",
        "en": "the token file {path} is empty. Put the last line printed by `fullrecord admin add-station` in it.",
    },
    "station.cli.watch_missing": {
        "zh-CN": "监视目录 {path} 不存在或不是目录。",
        "en": "the watch directory {path} does not exist or is not a directory.",
    },
    "station.cli.no_journal": {
        "zh-CN": "{path} 处没有采集站日志：该监视目录尚未运行过 `fullrecord station run`。",
        "en": "no station journal at {path}: `fullrecord station run` has not run for this watch directory.",
    },
    "station.cli.started": {
        "zh-CN": "采集站程序已启动：监视 {watch}，上传到 {server}，日志 {journal}",
        "en": "station agent started: watching {watch}, uploading to {server}, journal {journal}",
    },
    "station.cli.stopped": {
        "zh-CN": "采集站程序已停止：完成 {done}，失败 {failed}，待处理 {waiting}",
        "en": "station agent stopped: {done} done, {failed} failed, {waiting} waiting",
    },
    "station.cli.retried": {
        "zh-CN": "{count} 个失败文件已重新排队",
        "en": "{count} failed file(s) queued again",
    },
    "station.cli.summary": {
        "zh-CN": "待处理 {pending} · 计算哈希 {hashing} · 待上传 {ready} · 上传中 {uploading} · 完成 {done} · 失败 {failed}",
        "en": "pending {pending} · hashing {hashing} · ready {ready} · uploading {uploading} · done {done} · failed {failed}",
    },
    "station.state.pending": {"zh-CN": "待处理", "en": "pending"},
    "station.state.hashing": {"zh-CN": "计算哈希", "en": "hashing"},
    "station.state.ready": {"zh-CN": "待上传", "en": "ready"},
    "station.state.uploading": {"zh-CN": "上传中", "en": "uploading"},
    "station.state.done": {"zh-CN": "完成", "en": "done"},
    "station.state.failed": {"zh-CN": "失败", "en": "failed"},
    "station.bar.hash": {"zh-CN": "哈希", "en": "hash"},
    "station.bar.send": {"zh-CN": "上传", "en": "send"},
}
