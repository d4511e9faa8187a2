"""Messages about hostile or corrupt media: why a file was kept but not decoded (alerts
media_<code>, raised by workers/steps/failures.py from the refusals in workers/media/guard.py)."""

_KEPT_ZH = "未解码、未生成任何派生文件；原件已保留并通过哈希校验。"
_KEPT_EN = "it was not decoded and nothing was derived from it; the original is kept and its hash verified."

MESSAGES: dict[str, dict[str, str]] = {
    "alert.media_too_many_pixels": {
        "zh-CN": "文件声明的画面尺寸为 {width}×{height}（{pixels} 像素），"
                 "超过上限 {max_pixels} 像素（processing.max_pixels）。为防止解码耗尽内存，" + _KEPT_ZH,
        "en": "The file declares a picture of {width}×{height} ({pixels} pixels), over the limit of "
              "{max_pixels} pixels (processing.max_pixels). So that decoding cannot exhaust memory, " + _KEPT_EN,
    },
    "alert.media_picture_size_unknown": {
        "zh-CN": "无法从文件中读出有效的画面尺寸（文件可能声明了不可能的尺寸），" + _KEPT_ZH,
        "en": "No usable picture size could be read from the file (it may declare an impossible one); "
              + _KEPT_EN,
    },
    "alert.media_too_long": {
        "zh-CN": "文件声明的时长为 {duration} 秒，超过上限 {max_duration_seconds} 秒"
                 "（processing.max_duration_seconds），" + _KEPT_ZH,
        "en": "The file declares a duration of {duration} s, over the limit of {max_duration_seconds} s "
              "(processing.max_duration_seconds); " + _KEPT_EN,
    },
    "alert.media_format_not_allowed": {
        "zh-CN": "文件格式“{format_name}”不是执法记录仪产生的格式（此类格式可让解码程序读取其他文件或网址），"
                 + _KEPT_ZH + "允许的格式：{allowed}（processing.input_formats）。",
        "en": "The file's format '{format_name}' is not one recorders produce (formats like it can make the "
              "decoder read other files or addresses); " + _KEPT_EN
              + " Allowed formats: {allowed} (processing.input_formats).",
    },
    "alert.media_memory_limit": {
        "zh-CN": "{program} 处理该文件时超出内存上限 {limit}（processing.memory_limit_bytes），已被停止，"
                 "未由其生成任何派生文件；原件已保留。",
        "en": "{program} ran out of its memory limit of {limit} (processing.memory_limit_bytes) on this file "
              "and was stopped; nothing was derived by it. The original is kept.",
    },
    "alert.media_probe_timeout": {
        "zh-CN": "ffprobe 在全部 {attempts} 次尝试中都未能在 {timeout} 秒内读完该文件，已被终止；"
                 "文件判定为无法播放，" + _KEPT_ZH,
        "en": "ffprobe did not finish reading the file within {timeout} s on any of {attempts} attempts and "
              "was stopped; the file is marked unplayable, and " + _KEPT_EN,
    },
}
