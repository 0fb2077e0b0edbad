"""The report's words: escaping of supplied text for reportlab, and every label in English and Chinese.

reportlab's ``Paragraph`` parses its text as markup (``<img>``, ``<a href>``, ``<font>``), so
any text that did not come from this module must pass through ``escape`` before it reaches
one. Labels for features, units, components, data sets and quality warnings live here so
that each report is written entirely in its language.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape as _xml_escape

from ..features.globalfeatures import FEATURES


def escape(text: object, fallback_font: str | None = None) -> str:
    """Text as reportlab markup that shows it literally; characters outside cp1252 switch to ``fallback_font``.

    The standard PDF fonts (Helvetica, Courier) encode cp1252 only and draw anything else as
    a black box, so a Chinese name in an English report needs the CJK font for those characters.
    """
    text = str(text)
    if fallback_font is None:
        return _xml_escape(text, {'"': "&quot;"})
    out: list[str] = []
    for run in re.findall(r"[\x00-\xff\u2013\u2014\u2018\u2019\u201c\u201d\u2022\u2026\u20ac]+|[^\x00-\xff]+", text):
        if _encodable(run):
            out.append(_xml_escape(run, {'"': "&quot;"}))
        else:
            out.append(f'<font name="{fallback_font}">{_xml_escape(run)}</font>')
    return "".join(out)


def _encodable(text: str) -> bool:
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


# --- features ---------------------------------------------------------------------------------

_DIRECTIONS = ["-180..-135", "-135..-90", "-90..-45", "-45..0", "0..45", "45..90", "90..135", "135..180"]
_TURNS = ["0-0.05", "0.05-0.15", "0.15-0.4", ">0.4"]

FEATURE_ZH: dict[str, str] = {
    "duration": "书写总时长", "pen_down_duration": "落笔时长", "pen_up_duration": "抬笔时长",
    "pen_down_ratio": "落笔时长占比", "n_strokes": "笔画数", "mean_stroke_duration": "笔画平均时长",
    "stroke_duration_cv": "笔画时长变异系数", "longest_stroke_share": "最长笔画时长占比",
    "first_stroke_share": "首笔画时长占比", "mean_pen_up_gap": "笔画间平均间隔", "max_pen_up_gap": "笔画间最长间隔",
    "stroke_duration_entropy": "笔画时长分布熵", "strokes_per_second": "每秒笔画数", "aspect_ratio": "宽高比",
    "width": "外接框宽度", "height": "外接框高度", "path_length": "落笔轨迹长度", "width_over_path": "宽度与轨迹长度之比",
    "height_over_path": "高度与轨迹长度之比", "std_x": "横坐标标准差", "centroid_x": "重心横向位置",
    "centroid_y": "重心纵向位置", "first_x": "起笔点横向位置", "first_y": "起笔点纵向位置", "last_x": "收笔点横向位置",
    "last_y": "收笔点纵向位置", "start_end_dx": "起收笔横向位移（相对宽度）", "start_end_dy": "起收笔纵向位移（相对高度）",
    "start_end_angle": "起笔至收笔的方向", "hull_over_bbox": "凸包面积与外接框面积之比",
    "bbox_over_path2": "外接框面积与轨迹长度平方之比", "pen_up_travel": "抬笔移动距离（相对轨迹长度）",
    "skew_x": "横坐标偏度", "skew_y": "纵坐标偏度", "kurtosis_x": "横坐标峰度", "kurtosis_y": "纵坐标峰度",
    "corr_xy": "横纵坐标相关系数", "share_upper_right": "右上象限采样点占比", "share_upper_left": "左上象限采样点占比",
    "share_lower_left": "左下象限采样点占比", "share_lower_right": "右下象限采样点占比",
    **{f"direction_{i}": f"运笔方向{r}度的轨迹占比" for i, r in enumerate(_DIRECTIONS)},
    **{f"turn_{i}": f"每10毫秒转角{r}弧度的占比" for i, r in enumerate(_TURNS)},
    "mean_abs_angular_speed": "平均角速度（绝对值）", "std_angular_speed": "角速度标准差",
    "mean_log_radius": "曲率半径对数均值", "std_log_radius": "曲率半径对数标准差", "total_turning": "单位时间总转角",
    "vx_sign_changes": "横向速度换向频率", "vy_sign_changes": "纵向速度换向频率",
    "vx_vy_crossing_ratio": "横向与纵向换向次数之比", "mean_speed": "平均速度", "std_speed": "速度标准差",
    "max_speed": "最大速度", "median_speed": "速度中位数", "p10_speed": "速度第10百分位数", "p90_speed": "速度第90百分位数",
    "speed_cv": "速度变异系数", "max_over_mean_speed": "最大速度与平均速度之比",
    "speed_q75_over_q25": "速度四分位比（75%/25%）", "avg_speed_path": "轨迹长度与落笔时长之比",
    "mean_vx": "横向速度均值（带符号）", "mean_vy": "纵向速度均值（带符号）", "mean_abs_vx": "横向速度绝对值均值",
    "mean_abs_vy": "纵向速度绝对值均值", "std_vx": "横向速度标准差", "std_vy": "纵向速度标准差",
    "max_vx": "横向速度最大值", "min_vx": "横向速度最小值", "max_vy": "纵向速度最大值", "min_vy": "纵向速度最小值",
    "positive_vx_share": "向右运笔采样点占比", "positive_vy_share": "向下运笔采样点占比",
    "time_of_max_speed": "最大速度出现时刻（相对落笔时长）", "fast_share": "高于平均速度的采样点占比",
    "speed_peaks_per_second": "每秒速度峰值数", "slow_share": "低于最大速度10%的采样点占比",
    "speed_first_half_ratio": "前后半程平均速度之比", "mean_acceleration": "平均加速度（绝对值）",
    "std_acceleration": "加速度标准差", "max_acceleration": "最大加速度", "mean_ax": "横向加速度均值（带符号）",
    "mean_ay": "纵向加速度均值（带符号）", "std_ax": "横向加速度标准差", "std_ay": "纵向加速度标准差",
    "mean_abs_centripetal": "平均向心加速度", "mean_jerk": "平均加加速度", "std_jerk": "加加速度标准差",
    "max_jerk": "最大加加速度", "accelerating_share": "加速采样点占比", "acceleration_over_speed": "平均加速度与平均速度之比",
    "mean_pressure": "平均压力", "std_pressure": "压力标准差", "max_pressure": "最大压力", "min_pressure": "最小压力",
    "median_pressure": "压力中位数", "p10_pressure": "压力第10百分位数", "p90_pressure": "压力第90百分位数",
    "pressure_cv": "压力变异系数", "mean_abs_dpressure": "压力变化率绝对值均值", "std_dpressure": "压力变化率标准差",
    "max_dpressure": "压力变化率最大值", "min_dpressure": "压力变化率最小值",
    "time_of_max_pressure": "最大压力出现时刻（相对落笔时长）", "skew_pressure": "压力偏度", "kurtosis_pressure": "压力峰度",
    "pressure_start": "起笔段压力（相对平均压力）", "pressure_end": "收笔段压力（相对平均压力）",
    "high_pressure_share": "高于平均压力的采样点占比", "pressure_speed_corr": "压力与速度相关系数",
    "pressure_peaks_per_second": "每秒压力峰值数", "pressure_first_half_ratio": "前后半程平均压力之比",
    "pressure_stroke_cv": "各笔画平均压力变异系数", "mean_azimuth": "笔方位角均值", "std_azimuth": "笔方位角标准差",
    "range_azimuth": "笔方位角范围", "mean_altitude": "笔倾角均值", "std_altitude": "笔倾角标准差",
    "range_altitude": "笔倾角范围",
}

_DEFINITIONS = {f.name: f.definition for f in FEATURES}

UNITS: dict[str, dict[str, str]] = {
    "en": {"1": "dimensionless", "count": "count", "height units/s^2": "height units/s²",
           "height units/s^3": "height units/s³"},
    "zh": {"s": "秒", "count": "个", "1": "无量纲", "nat": "奈特", "1/s": "1/秒", "rad": "弧度", "rad/s": "弧度/秒",
           "height units": "字高单位", "log height units": "字高单位（对数）", "height units/s": "字高单位/秒",
           "height units/s^2": "字高单位/秒²", "height units/s^3": "字高单位/秒³", "full scale": "满量程",
           "full scale/s": "满量程/秒", "deg": "度"},
}


def feature_label(name: str, lang: str) -> str:
    """A global feature's name in the report's language (English: its definition)."""
    if lang == "zh":
        return FEATURE_ZH.get(name, "其他全局特征")
    definition = _DEFINITIONS.get(name, name.replace("_", " "))
    return definition[:1].upper() + definition[1:]


def unit_label(unit: str, lang: str) -> str:
    """A unit in the report's language."""
    if lang == "zh":
        return UNITS["zh"].get(unit, "—")
    return UNITS["en"].get(unit, unit)


# --- components, channels, devices, data sets -----------------------------------------------------

_VIEWS = {"en": {"all": "trajectory and dynamics", "dyn": "dynamics (velocity, pressure)",
                 "dir": "writing direction and speed"},
          "zh": {"all": "轨迹与动态", "dyn": "书写动态（速度、压力）", "dir": "运笔方向与速度"}}
_STATS = {"en": {"mean": "mean DTW distance to the references", "min": "DTW distance to the closest reference",
                 "tempo": "rhythm (time warping needed)"},
          "zh": {"mean": "与各样本的平均DTW距离", "min": "与最接近样本的DTW距离", "tempo": "节奏（所需时间规整量）"}}


def component_label(name: str, lang: str) -> str:
    """A fused score component in the report's language."""
    if name == "global":
        return {"en": "global features (mean capped |z|)", "zh": "全局特征（截断|z|均值）"}[lang]
    view, _, stat = name.partition("_")
    if view in _VIEWS[lang] and stat in _STATS[lang]:
        return f"{_VIEWS[lang][view]}{': ' if lang == 'en' else '：'}{_STATS[lang][stat]}"
    return name if lang == "en" else "其他分项"


CHANNELS_ZH = {"t": "时间", "x": "横坐标", "y": "纵坐标", "pressure": "压力", "tilt_x": "横向倾斜", "tilt_y": "纵向倾斜",
               "azimuth": "方位角", "altitude": "倾角", "twist": "旋转角"}
FUNCTIONS_ZH = {"vx": "横向速度", "vy": "纵向速度", "speed": "速度", "cos_angle": "运笔方向余弦",
                "sin_angle": "运笔方向正弦", **CHANNELS_ZH}


def channels_label(names: list[str] | tuple[str, ...], lang: str) -> str:
    """Channel or time-function names joined in the report's language."""
    if lang == "zh":
        return "、".join(FUNCTIONS_ZH.get(n, n) for n in names)
    return ", ".join(names)


DEVICE_KEYS = {
    "en": {"kind": "type", "model": "model", "units_per_mm": "units per mm", "sampling_rate_hz": "sampling rate (Hz)",
           "pressure_levels": "pressure levels", "screen_width": "screen width", "screen_height": "screen height",
           "device_pixel_ratio": "device pixel ratio", "user_agent": "browser"},
    "zh": {"kind": "类型", "model": "型号", "units_per_mm": "每毫米单位数", "sampling_rate_hz": "采样率（Hz）",
           "pressure_levels": "压力级数", "screen_width": "屏幕宽度", "screen_height": "屏幕高度",
           "device_pixel_ratio": "设备像素比", "user_agent": "浏览器标识"},
}
DEVICE_KINDS_ZH = {"pen": "压感笔", "touch": "触屏", "mouse": "鼠标", "pad": "签名板", "camera": "摄像头", "unknown": "未知"}


def device_label(device: dict, lang: str) -> str:
    """A capture device's description in the report's language (its model name stays as recorded)."""
    sep, eq = ("，", "：") if lang == "zh" else (", ", ": ")
    parts = []
    for key, value in device.items():
        if key == "kind" and lang == "zh":
            value = DEVICE_KINDS_ZH.get(str(value), str(value))
        if isinstance(value, float):
            value = f"{value:g}"
        parts.append(f"{DEVICE_KEYS[lang].get(key, key)}{eq}{value}")
    return sep.join(parts)


DATASETS = {
    "svc2004-task2": {"en": ("SVC2004 Task 2", "40 writers (English and Chinese signatures), pen tablet with "
                             "pressure; 20 genuine and 20 skilled forgeries per writer"),
                      "zh": ("SVC2004 任务2", "40名书写人（英文和中文签名），带压力的数位板；每人20个真实签名和20个摹仿签名")},
    "svc2004-task1": {"en": ("SVC2004 Task 1", "the same 40 writers, coordinates and time only; 20 genuine and "
                             "20 skilled forgeries per writer"),
                      "zh": ("SVC2004 任务1", "同一批40名书写人，仅坐标与时间；每人20个真实签名和20个摹仿签名")},
    "susig-visual": {"en": ("SUSIG Visual", "94 writers, LCD signature pad with visual feedback"),
                     "zh": ("SUSIG 可视子集", "94名书写人，带显示屏的签名板")},
    "susig-blind": {"en": ("SUSIG Blind", "100 writers, pen tablet without visual feedback"),
                    "zh": ("SUSIG 盲写子集", "100名书写人，无显示的数位板")},
    "sigcomp2011-dutch": {"en": ("SigComp2011 Dutch", "Dutch signatures, pen tablet, 200 Hz"),
                          "zh": ("SigComp2011 荷兰子集", "荷兰签名，数位板，200 Hz")},
}


def dataset_label(name: str, lang: str) -> str:
    """A data set (or a '+'-joined union of them) by its public name."""
    return " + ".join(DATASETS[n][lang][0] if n in DATASETS else n for n in name.split("+"))


def dataset_population(name: str, lang: str, recorded: str | None = None) -> str:
    """Who and what a data set holds; else the population recorded with the calibration, if any."""
    known = [DATASETS[n][lang][1] for n in name.split("+") if n in DATASETS]
    if known:
        return "；".join(known) if lang == "zh" else "; ".join(known)
    if recorded and lang == "en":
        return recorded
    return "未记录" if lang == "zh" else (recorded or "not recorded")


HELD_OUT = "held-out writers of "


def calibration_population(name: str, lang: str, recorded: str | None = None) -> str:
    """The population a calibration was fitted on: as recorded in the calibration file, in the report's language."""
    if recorded and recorded.startswith(HELD_OUT):
        sets = recorded[len(HELD_OUT):]
        return (f"held-out writers of {dataset_label(sets, 'en')} (writers not seen by the fitted model)"
                if lang == "en" else f"{dataset_label(sets, 'zh')}中的留出书写人（拟合模型时未见过的书写人）")
    if recorded and lang == "en":
        return recorded
    # A free-text population cannot be translated; the data sets it was drawn from can.
    return dataset_label(name, lang) + ("" if lang == "en" or not recorded else "（人群说明原文见JSON输出）")


# --- where each item came from -----------------------------------------------------------------

_EVENTS_ZH = {"signing": "签署", "enrolment": "登记", "verification": "验证", "capture": "采集"}


def _when(iso: str | None, lang: str) -> str:
    """A TSA time as date and time in UTC (ISO's 'T' would read as a Latin word in Chinese)."""
    if not iso:
        return "none" if lang == "en" else "无"
    text = iso.replace("T", " ").replace("+00:00", "")[:19]
    return f"{text} UTC" if lang == "en" else f"{text}（协调世界时）"


def _log_label(log: dict, lang: str) -> str:
    ok = log.get("included")
    if lang == "en":
        return (f"transparency log entry {log['index']} (leaf hash {log['leaf_hash']}): inclusion proof in the "
                f"signed tree of {log['tree_size']} entries {'verified' if ok else 'FAILED'}")
    return (f"透明日志条目{log['index']}（叶哈希 {log['leaf_hash']}）：在{log['tree_size']}个条目的签名树中的包含证明"
            f"{'核验通过' if ok else '核验未通过'}")


def source_label(source: dict | None, lang: str) -> str:
    """Where an item came from and what was checked, in the report's language."""
    en = lang == "en"
    kind = (source or {}).get("kind", "file")
    sep = "; " if en else "；"
    if kind == "file":
        return "file as submitted" if en else "按文件送检"
    log = source.get("log")
    if kind == "pdf":
        stored = source.get("stored_with")
        where = ((f"signature field {source['field']} of a sealed PDF"
                  + (f" kept with log entry {stored}" if stored is not None else ""))
                 if en else (f"封存PDF的签名域 {source['field']}" + (f"（随日志条目{stored}保存）" if stored is not None
                                                                   else "")))
        parts = [where,
                 ("PDF signature verifies (signed bytes intact)" if en else "PDF签名验证通过（所签字节完整）"),
                 ("signing certificate chains to a trusted root" if source.get("trusted") else
                  "signing certificate NOT shown to chain to a trusted root") if en else
                 ("签名证书可链接到受信任根证书" if source.get("trusted") else "签名证书未能链接到受信任根证书"),
                 (f"time-stamp (TSA) {_when(source.get('timestamp'), lang)}"
                  + ("" if source.get("timestamp_valid") else " (does not verify)")) if en else
                 (f"时间戳机构时间 {_when(source.get('timestamp'), lang)}"
                  + ("" if source.get("timestamp_valid") else "（未通过核验）")),
                 ("escrowed packet decrypted with the escrow key; bound to the signed revision" if en else
                  "托管数据包已用托管密钥解密，并与所签修订版本绑定")]
        if log:
            parts.append(_log_label(log, lang))
        elif source.get("log_checked"):
            parts.append("no signing entry for it in the transparency log examined" if en else "所查透明日志中无其签署条目")
        else:
            parts.append("no transparency log was examined" if en else "未查验透明日志")
        return sep.join(parts)
    if kind == "log":
        event = log.get("event_type") or ""
        head = (f"file as submitted; its packet hash is the one the {event} event names" if en else
                f"按文件送检；其数据包哈希与{_EVENTS_ZH.get(event, '所记录')}事件中的哈希一致")
        return sep.join([head, _log_label(log, lang)])
    if kind == "store":
        head = (f"enrolment store: subject {source['subject']}, enrolment {source['enrolment']}, decrypted with the "
                "storage key" if en else
                f"登记库：主体 {source['subject']}，登记记录 {source['enrolment']}，已用存储密钥解密")
        if not log:
            return sep.join([head, "no enrolment entry in the transparency log" if en else "透明日志中无登记条目"])
        listed = ("the entry lists this packet's hash" if source.get("listed") else
                  "the entry does NOT list this packet's hash") if en else \
            ("该条目列有此数据包的哈希" if source.get("listed") else "该条目未列出此数据包的哈希")
        return sep.join([head, _log_label(log, lang), listed])
    return kind if en else "其他来源"


# --- quality warnings -------------------------------------------------------------------------

_REPAIRS_ZH = [
    (r"timestamps: (\d+) repeated and (\d+) backward \(up to ([\d.]+) ms\) sample\(s\) re-timed by interpolation",
     "时间戳：{0}个重复、{1}个倒退（最多{2} ms）的采样点已按插值重新计时"),
    (r"timestamps: (\d+) repeated sample\(s\) re-timed by interpolation", "时间戳：{0}个重复采样点已按插值重新计时"),
    (r"timestamps: (\d+) backward \(up to ([\d.]+) ms\) sample\(s\) re-timed by interpolation",
     "时间戳：{0}个倒退（最多{1} ms）的采样点已按插值重新计时"),
    (r"timestamps: (\d+) sample\(s\) more than ([\d.]+) ms ahead of the next \(counter glitch\) "
     r"re-timed by interpolation",
     "时间戳：{0}个超前下一采样点{1} ms以上的采样点（计数器故障）已按插值重新计时"),
    (r"(\d+) invalid row\(s\) .* dropped", "已删除{0}行无效数据（笔超出范围）"),
    (r"(\d+) corrupt (\w+) value\(s\).*", "{0}个损坏的角度数值已修正"),
    (r"ISO F channel was not a fraction of full scale.*", "ISO压力通道不是满量程比例，已按其最大值缩放至0..1"),
]


def warning_label(code: str, detail: str, lang: str) -> str:
    """A quality warning in the report's language; ``code`` is low_rate, no_pressure, nominal_timing or repaired."""
    if lang == "en":
        return {"low_rate": f"low sampling rate ({detail})", "no_pressure": "no pressure channel",
                "nominal_timing": "timestamps derived from the declared rate",
                "repaired": f"repaired: {detail}"}.get(code, detail)
    if code == "low_rate":
        return f"采样率偏低（{detail}）"
    if code == "no_pressure":
        return "无压力通道"
    if code == "nominal_timing":
        return "时间戳由标称采样率推算"
    for pattern, template in _REPAIRS_ZH:
        match = re.fullmatch(pattern, detail)
        if match:
            return "已修复：" + template.format(*match.groups())
    # Repairs are free text from the capture software; their original wording is in the JSON output.
    return "已修复：其他数据修复一项（原文见数据包）"
