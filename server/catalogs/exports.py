"""Messages about evidence bundle exports (API and `fullrecord export`)."""

MESSAGES: dict[str, dict[str, str]] = {
    "export.not_found": {
        "zh-CN": "找不到导出任务“{id}”。",
        "en": "No export '{id}'.",
    },
    "export.not_ready": {
        "zh-CN": "导出任务 {id} 尚未完成（状态 {status}，进度 {percent}%）。请稍后查询 GET /api/v1/exports/{id}，完成后再下载。",
        "en": "Export {id} is not finished yet (status {status}, {percent}% done). Check GET /api/v1/exports/{id} "
              "and download it when it is done.",
    },
    "export.failed": {
        "zh-CN": "导出任务 {id} 已失败，没有可下载的证据包：{error}。请排除原因后重新发起导出。",
        "en": "Export {id} failed, so there is no bundle to download: {error}. Fix the cause and start a new export.",
    },
    "export.not_stored": {
        "zh-CN": "导出任务 {id} 由命令行（fullrecord export）生成，证据包只保存在当时指定的文件中，服务器上没有副本。",
        "en": "Export {id} was made by the command line (fullrecord export); the bundle is only in the file it "
              "wrote, the server keeps no copy.",
    },
    "export.store_missing": {
        "zh-CN": "导出任务 {id} 的证据包在对象存储中找不到（{key}）。请联系管理员核查存储，或重新发起导出。",
        "en": "The bundle of export {id} is missing from the object store ({key}). Ask an administrator to check "
              "the store, or start a new export.",
    },
    "alert.export_integrity_failed": {
        "zh-CN": "导出证据包时发现存储的文件与记录的哈希不符，导出已中止：{reason}",
        "en": "While exporting an evidence bundle a stored file did not match its recorded hash; the export "
              "stopped: {reason}",
    },
    "export.cli.unknown_case": {
        "zh-CN": "找不到案号为“{number}”的案件{where}。请核对案号（可用 GET /api/v1/cases?case_number=… 查询）。",
        "en": "No case numbered '{number}'{where}. Check the number (GET /api/v1/cases?case_number=... lists cases).",
    },
    "export.cli.in_agency": {"zh-CN": "（单位 {agency}）", "en": " in agency {agency}"},
    "export.cli.ambiguous": {
        "zh-CN": "案号“{number}”在多个单位下都有案件：{agencies}。请用 --agency 指定单位编码。",
        "en": "Case number '{number}' exists in several agencies: {agencies}. Name one with --agency CODE.",
    },
    "export.cli.out_exists": {
        "zh-CN": "{path} 已存在，未覆盖。请换一个文件名，或先移走该文件。",
        "en": "{path} already exists and was not overwritten. Choose another name or move that file first.",
    },
    "export.cli.out_dir_missing": {
        "zh-CN": "输出目录 {path} 不存在。",
        "en": "The output directory {path} does not exist.",
    },
    "export.cli.progress": {"zh-CN": "导出证据包", "en": "exporting"},
    "export.cli.done": {
        "zh-CN": "证据包已写入 {path}：{files} 个文件（{bytes} 字节原件/副本），证据包 {size} 字节，SHA-256 {sha256}，"
                 "导出编号 {id}。离线校验：python3 verify_bundle.py {path}（verify_bundle.py 在证据包内）",
        "en": "Bundle written to {path}: {files} files ({bytes} bytes of recordings), bundle {size} bytes, "
              "SHA-256 {sha256}, export {id}. Verify offline: python3 verify_bundle.py {path} (verify_bundle.py "
              "is inside the bundle)",
    },
    "export.cli.failed": {
        "zh-CN": "导出失败（导出编号 {id}）：{reason}",
        "en": "The export failed (export {id}): {reason}",
    },
}
