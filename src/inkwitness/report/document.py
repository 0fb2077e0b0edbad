"""The forensic comparison report as a PDF (reportlab), in English or Chinese.

Structure follows the ENFSI guideline for evaluative reporting: case and inputs, the
propositions, observations (visual, dynamics, features), the evaluation (scores, LR,
verbal equivalent, conclusion terms), method validation, and limitations.
"""

from __future__ import annotations

import io

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Image, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ..calibration import MAPPING_NOTE, Calibration
from ..signature import Signature
from . import figures
from .analysis import ReportData
from .fonts import register_pdf_font

TEXT = {
    "en": {
        "title": "Forensic comparison of handwritten signatures", "case": "Case", "examiner": "Examiner",
        "generated": "Produced by inkwitness", "inputs": "1. Material examined",
        "role": "Item", "sha": "SHA-256", "points": "Points", "strokes": "Strokes", "duration": "Duration (ms)",
        "rate": "Rate (Hz)", "channels": "Channels", "device": "Device", "warnings": "Quality warnings",
        "none": "none", "props": "2. Propositions",
        "h1": "H1: the questioned signature was written by the writer of the reference signatures.",
        "h2": "H2: the questioned signature was written by someone else (in particular, a simulation).",
        "visual": "3. Visual comparison", "dynamics": "4. Dynamics",
        "dyn_note": "Speed and pressure of the questioned signature (red) against reference {n} warped onto it by "
                    "DTW (grey); shaded: the {k} segments that deviate most.",
        "features": "5. Feature comparison", "feature": "Feature", "unit": "Unit", "q": "Questioned",
        "range": "Reference range", "mean": "Reference mean ± sd", "z": "z", "flag": "Deviates",
        "evaluation": "6. Evaluation", "component": "Component (higher = closer to the references)",
        "value": "Value", "fused": "Fused score", "lr": "Likelihood ratio (LR)", "log10lr": "log10 LR",
        "bounds": "LR bounds supported by the calibration data (log10)", "verbal": "ENFSI verbal equivalent",
        "swgdoc": "SWGDOC nine-level scale", "gbt": "GB/T 37239-2018 term", "reasons": "Observations",
        "lr_sentence": "The observations are about {lr} times more probable if {prop} than if {other}.",
        "h1_short": "H1 is true", "h2_short": "H2 is true",
        "validation": "7. Method validation",
        "val_note": "Error rates and calibration of this method on data not used to fit the calibration "
                    "(global threshold; skilled forgeries).",
        "set": "Data", "eer": "EER", "cllr": "Cllr", "cllr_min": "Cllr_min", "n": "Comparisons (same / forged)",
        "limits": "8. Limitations",
        "limitations": [
            "The LR evaluates the signing dynamics recorded by the capture devices; it does not address whether "
            "the reference signatures are genuine, which is assumed.",
            "The calibration was fitted on public research datasets (SUSIG, SigComp2011) and validated on SVC2004; "
            "populations, devices and forgers in casework may differ, and the LR is bounded to the range these "
            "data support.",
            "Channels missing on either side (e.g. pressure from a finger or mouse) are not compared, which "
            "lowers discrimination.",
            "Repaired timestamps and nominal timing (listed above) limit the reliability of timing features.",
            "The result supports, and does not replace, the judgement of a qualified document examiner.",
        ],
    },
    "zh": {
        "title": "手写电子签名司法鉴定比对报告", "case": "案件编号", "examiner": "鉴定人",
        "generated": "由 inkwitness 生成", "inputs": "一、检验材料",
        "role": "材料", "sha": "SHA-256", "points": "采样点", "strokes": "笔画", "duration": "时长（毫秒）",
        "rate": "采样率（Hz）", "channels": "通道", "device": "设备", "warnings": "质量提示", "none": "无",
        "props": "二、假设", "h1": "H1：检材签名为样本签名的书写人所写。",
        "h2": "H2：检材签名为他人所写（特别是摹仿书写）。",
        "visual": "三、形态比较", "dynamics": "四、书写动态",
        "dyn_note": "检材（红色）与经DTW对齐的样本{n}（灰色）的速度与压力曲线；阴影为差异最大的{k}个片段。",
        "features": "五、特征比较", "feature": "特征", "unit": "单位", "q": "检材", "range": "样本范围",
        "mean": "样本均值 ± 标准差", "z": "z值", "flag": "显著差异",
        "evaluation": "六、评价", "component": "分项（越高越接近样本）", "value": "数值", "fused": "综合分数",
        "lr": "似然比（LR）", "log10lr": "log10 LR", "bounds": "校准数据所能支持的似然比范围（log10）",
        "verbal": "ENFSI语言等级", "swgdoc": "SWGDOC九级结论", "gbt": "GB/T 37239-2018结论用语",
        "reasons": "观察所见", "lr_sentence": "在{prop}的条件下观察到上述特征的概率约为在{other}条件下的{lr}倍。",
        "h1_short": "H1成立", "h2_short": "H2成立",
        "validation": "七、方法验证",
        "val_note": "本方法在未用于拟合校准的数据上的错误率与校准性能（全局阈值；摹仿伪造）。",
        "set": "数据", "eer": "等错误率", "cllr": "Cllr", "cllr_min": "Cllr_min", "n": "比较次数（同一人/伪造）",
        "limits": "八、局限性",
        "limitations": [
            "似然比评价的是采集设备记录的书写动态，假定样本签名为真实签名。",
            "校准在公开研究数据集（SUSIG、SigComp2011）上拟合，并在SVC2004上验证；实际案件的人群、设备与伪造者可能不同，"
            "似然比已限定在这些数据所能支持的范围内。",
            "任一方缺失的通道（如手指或鼠标书写无压力）不参与比较，会降低区分能力。",
            "上文列出的时间戳修复与名义时间会限制时间特征的可靠性。",
            "本结果用于辅助而非取代合格文书鉴定人的判断。",
        ],
    },
}


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=font, fontSize=8.5, leading=11.5)
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=15, leading=19, spaceAfter=6),
        "h": ParagraphStyle("h", parent=base, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4),
        "p": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7, leading=9),
        "mono": ParagraphStyle("mono", parent=base, fontName="Courier", fontSize=6.5, leading=8),
    }


def _table(rows: list[list], widths: list[float], font: str) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), font, 7),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8ecf3")),
        ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#b0b8c8")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    return table


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def render(data: ReportData, references: list[Signature], questioned: Signature, calibration: Calibration,
           lang: str = "en") -> bytes:
    """Render the report PDF; the same data give the same bytes."""
    if lang not in TEXT:
        raise ValueError(f"language must be 'en' or 'zh', got {lang!r}")
    t = TEXT[lang]
    font = register_pdf_font() if lang == "zh" else "Helvetica"
    st = _styles(font)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=16 * mm, rightMargin=16 * mm, topMargin=14 * mm,
                            bottomMargin=14 * mm, title=t["title"], author="inkwitness", invariant=1)
    width = A4[0] - 32 * mm
    story: list = [Paragraph(t["title"], st["title"])]
    story.append(Paragraph(f"{t['case']}: {data.case_id or '-'} &nbsp;&nbsp; {t['examiner']}: "
                           f"{data.examiner or '-'} &nbsp;&nbsp; {t['generated']}", st["p"]))
    story.append(Paragraph(t["inputs"], st["h"]))
    rows = [[t["role"], t["sha"], t["points"], t["strokes"], t["duration"], t["rate"], t["channels"]]]
    for info in data.inputs:
        role = info.role
        if lang == "zh":
            role = role.replace("reference", "样本").replace("questioned", "检材")
        rows.append([role, Paragraph(info.sha256, st["mono"]), info.points, info.strokes,
                     f"{info.duration_ms:.0f}", f"{info.rate_hz:.0f}", Paragraph(", ".join(info.channels), st["small"])])
    story.append(_table(rows, [20 * mm, 62 * mm, 14 * mm, 13 * mm, 18 * mm, 14 * mm, width - 141 * mm], font))
    devices = sorted({", ".join(f"{k}={v}" for k, v in i.device.items()) for i in data.inputs})
    story.append(Paragraph(f"{t['device']}: " + "; ".join(devices), st["small"]))
    warnings = [f"{i.role}: {w}" for i in data.inputs for w in i.warnings]
    story.append(Paragraph(f"{t['warnings']}: " + ("; ".join(warnings) if warnings else t["none"]), st["small"]))
    story.append(Paragraph(t["props"], st["h"]))
    story += [Paragraph(t["h1"], st["p"]), Paragraph(t["h2"], st["p"])]

    story.append(Paragraph(t["visual"], st["h"]))
    closest = references[data.closest_reference - 1]
    story.append(Image(io.BytesIO(figures.trajectories(references, questioned, lang)), width=width,
                       height=width * 0.45, kind="proportional"))
    story.append(Image(io.BytesIO(figures.overlay(closest, questioned, lang)), width=width * 0.7,
                       height=width * 0.42, kind="proportional"))
    story.append(Paragraph(t["dynamics"], st["h"]))
    story.append(Image(io.BytesIO(figures.dynamics(closest, questioned, data, lang)), width=width,
                       height=width * 0.5, kind="proportional"))
    story.append(Paragraph(t["dyn_note"].format(n=data.closest_reference, k=len(data.deviating_segments_ms)),
                           st["small"]))
    story.append(Image(io.BytesIO(figures.pen_timing(references, questioned, lang)), width=width,
                       height=width * 0.3, kind="proportional"))

    story.append(PageBreak())
    story.append(Paragraph(t["features"], st["h"]))
    rows = [[t["feature"], t["unit"], t["q"], t["range"], t["mean"], t["z"], t["flag"]]]
    for f in data.features:
        rows.append([f.name, Paragraph(f.unit, st["small"]), _fmt(f.questioned), f"{_fmt(f.ref_min)} – {_fmt(f.ref_max)}",
                     f"{_fmt(f.ref_mean)} ± {_fmt(f.ref_sd)}", f"{f.z:+.2f}", "!" if f.flagged else ""])
    story.append(_table(rows, [44 * mm, 28 * mm, 20 * mm, 32 * mm, 32 * mm, 12 * mm, width - 168 * mm], font))

    story.append(Paragraph(t["evaluation"], st["h"]))
    rows = [[t["component"], t["value"]]] + [[k, f"{v:+.3f}"] for k, v in data.components.items()]
    rows += [[t["fused"], f"{data.score:+.3f}"], [t["lr"], f"{data.lr:.3g}"], [t["log10lr"], f"{data.log10_lr:+.2f}"],
             [t["bounds"], f"{data.lr_bounds_log10[0]:+.2f} .. {data.lr_bounds_log10[1]:+.2f}"],
             [t["verbal"], Paragraph(data.enfsi[lang], st["small"])], [t["swgdoc"], data.swgdoc],
             [t["gbt"], data.gbt37239]]
    story.append(_table(rows, [80 * mm, width - 80 * mm], font))
    favoured = data.log10_lr >= 0
    magnitude = f"{10 ** abs(data.log10_lr):.3g}"
    story.append(Spacer(1, 3))
    story.append(Paragraph(t["lr_sentence"].format(lr=magnitude, prop=t["h1_short"] if favoured else t["h2_short"],
                                                   other=t["h2_short"] if favoured else t["h1_short"]), st["p"]))
    story.append(Paragraph(MAPPING_NOTE[lang], st["small"]))
    if data.reasons:
        story.append(Paragraph(t["reasons"] + ": " + "; ".join(data.reasons), st["small"]))

    story.append(Paragraph(t["validation"], st["h"]))
    story.append(Paragraph(t["val_note"], st["small"]))
    rows = [[t["set"], t["eer"], t["cllr"], t["cllr_min"], t["n"]]]
    for name, v in data.validation.items():
        rows.append([name, f"{100 * v['eer']:.2f} %", f"{v['cllr']:.3f}", f"{v['cllr_min']:.3f}",
                     f"{v['n_same']} / {v['n_different']}"])
    story.append(_table(rows, [70 * mm, 22 * mm, 22 * mm, 22 * mm, width - 136 * mm], font))
    tip = Image(io.BytesIO(figures.tippett(calibration, data.log10_lr, lang)), width=width * 0.52,
                height=width * 0.38, kind="proportional")
    det = Image(io.BytesIO(figures.det(calibration, lang)), width=width * 0.42, height=width * 0.38,
                kind="proportional")
    story.append(Table([[tip, det]], colWidths=[width * 0.55, width * 0.45]))
    story.append(Paragraph(t["limits"], st["h"]))
    for line in t["limitations"]:
        story.append(Paragraph("• " + line, st["p"]))
    doc.build(story)
    return buf.getvalue()
