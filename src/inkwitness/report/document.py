"""The dynamic signature comparison analysis report as a PDF (reportlab), in English or Chinese.

Structure follows the ENFSI Guideline for Evaluative Reporting (2015) and ISO 21043-5: case
and question; the propositions (source level), stated before any result; the material
examined, identified by the SHA-256 of the files as submitted; the method and its
validation; the results; the evaluative opinion (the LR and its ENFSI verbal equivalent);
limitations; the examiner's signature block. Every page carries the case, the date and
"page x of y".

Every text that reaches a reportlab ``Paragraph`` passes through ``text.escape`` (in
``_p``), so supplied fields such as a case identifier are shown literally, never parsed as
markup.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (Flowable, Image, KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer,
                                Table, TableStyle)

from .. import __version__
from ..calibration import PROPOSITIONS, Calibration
from ..signature import Signature
from . import figures
from ..fingerprint.images import png_bytes
from .analysis import ReportData
from .fingerprints import TEXT as FINGER_TEXT
from .fingerprints import FingerCase
from .fingerprints import dataset_name as finger_dataset
from .fonts import register_pdf_font
from .text import (calibration_population, channels_label, component_label, dataset_label, dataset_population,
                   device_label, escape, feature_label, source_label, unit_label, warning_label)

MARGIN = 16 * mm
WIDTH = A4[0] - 2 * MARGIN
#: Cell padding (points); the overflow check uses the same value.
PAD = 3

TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Dynamic signature comparison analysis report",
        "case": "Case", "date": "Report date", "examiner": "Examiner", "qualification": "Qualification",
        "software": "Software", "not_stated": "not stated", "page": "Page {n} of {total}",
        "s_case": "1. Case circumstances and question",
        "circumstances": "Circumstances", "question": "Question put",
        "default_question": "Was the questioned signature written by the writer of the reference signatures?",
        "s_props": "2. Propositions",
        "props_note": "The propositions are at source level. They are stated before any result. The alternative "
                      "writer under H2 is modelled as someone simulating the reference writer's signature (skilled "
                      "simulation), the alternative the calibration was validated for.",
        "s_material": "3. Material examined",
        "item": "Item", "file": "Submitted file", "file_sha": "SHA-256 of the submitted file",
        "packet_sha": "SHA-256 of the signature packet (internal)", "not_file": "not submitted as a file",
        "reference": "Reference {n}", "questioned": "Questioned",
        "points": "Points", "strokes": "Strokes", "duration": "Duration (ms)", "rate": "Rate (Hz)",
        "channels": "Channels recorded", "device": "Capture devices", "warnings": "Quality warnings", "none": "none",
        "origin": "Origin and checks",
        "provenance": "Provenance", "custody": "The SHA-256 of each file was computed from its bytes as submitted for "
                      "examination; the signature packet is the canonical form of the same data the comparison "
                      "uses. The chain of custody before submission is as stated above; this system does not "
                      "verify it.",
        "s_method": "4. Method and its validation",
        "method": "The questioned signature is compared with the reference signatures by dynamic time warping (DTW) "
                  "of its time functions and by {n} global features. The fused score is converted to a likelihood "
                  "ratio (LR) by a logistic calibration fitted on data sets not used for validation; LRs are "
                  "bounded by the empirical lower and upper bounds (ELUB) of the calibration data.",
        "versions": "Software, model and calibration", "part": "Part", "model_part": "Model",
        "calibration_part": "Calibration", "version": "Version",
        "sha": "SHA-256", "trained": "trained on", "fitted": "fitted on",
        "populations": "Data sets", "set": "Data set", "role": "Use", "population": "Population",
        "comparisons": "Comparisons (genuine / skilled forgery)",
        "validation_role": "validation (not used for fitting)",
        "training_role": "fitting (not a validation)",
        "rates": "Performance of the calibrated LRs", "eer": "EER", "cllr": "Cllr", "cllr_min": "Cllr_min",
        "h2_gt": "Skilled forgeries with LR > {x}", "h1_lt": "Genuine with LR < {x}",
        "rates_note": "Rates of misleading evidence: the share of skilled forgeries (H2 true) given an LR above 1, "
                      "10 and 100, and the share of genuine signatures (H1 true) given an LR below 1. Cllr measures "
                      "the LRs' overall cost (0 is perfect, 1 is uninformative); Cllr_min is what a perfectly "
                      "calibrated system with the same discrimination would reach, so Cllr − Cllr_min is the cost of "
                      "miscalibration on that data.",
        "cal_population": "Calibration population: {population}; {n_same} genuine and {n_different} skilled-forgery "
                          "comparisons. The calibration data were captured with pen tablets and signature pads. "
                          "One calibration serves every capture device: per-device-class calibration (pen tablet "
                          "versus finger on glass) is not possible yet, because no finger-on-glass data set with "
                          "enough writers is available here (the SCUT-MMSIG sample holds one writer).",
        "elub": "ELUB bounds: the LR is limited to {lo} .. {hi} (log10 {llo:+.2f} .. {lhi:+.2f}), the range the "
                "calibration data support.",
        "headline": "On {name}, not used for fitting, {h2_1} of skilled forgeries were given an LR above 1, {h2_10} "
                    "above 10 and {h2_100} above 100; {h1_1} of genuine signatures were given an LR below 1 "
                    "(Cllr {cllr:.3f}, Cllr_min {cllr_min:.3f}).",
        "s_results": "5. Results",
        "visual": "5.1 Visual comparison", "dynamics": "5.2 Dynamics",
        "dyn_note": "Speed and pressure of the questioned signature (red) against reference {n} warped onto it by "
                    "DTW (grey); shaded: the {k} segments that deviate most.",
        "features": "5.3 Global features", "feature": "Feature", "unit": "Unit", "q": "Questioned",
        "range": "Reference range", "mean": "Reference mean ± sd", "z": "z", "flag": "Deviates",
        "flag_mark": "yes", "scores": "5.4 Score components",
        "component": "Component fused by the model (higher = closer to the references)", "value": "Value",
        "fused": "Fused score", "observations": "Observations",
        "s_opinion": "6. Evaluative opinion",
        "lr": "Likelihood ratio (LR)", "log10lr": "log10 LR", "verbal": "ENFSI verbal equivalent",
        "lr_sentence": "The observations are about {lr} times more probable if {prop} than if {other}.",
        "lr_equal": "The observations are about equally probable under either proposition.",
        "h1_short": "H1 is true", "h2_short": "H2 is true",
        "opinion_note": "The LR and its verbal equivalent are the opinion. They state how probable the observations "
                        "are under each proposition, not how probable either proposition is: that also depends on "
                        "the other evidence in the case, which is for the court. ENFSI verbal equivalents (for LR "
                        "below 1, the same for H2 with 1/LR): 1–10 weak, 10–100 moderate, 100–1,000 moderately "
                        "strong, 1,000–10,000 strong, 10,000–1,000,000 very strong, above extremely strong support.",
        "s_conclusion": "Examiner's conclusion (the examiner's own, not derived from the LR)",
        "conclusion_note": "A conclusion on a probability scale (e.g. SWGDOC or GB/T 37239-2018) states how probable a "
                           "proposition is. It requires the examiner's prior judgement of the case; the LR alone "
                           "does not determine it, and this system does not derive it.",
        "s_limits": "7. Limitations",
        "limitations": [
            "Validation covers H2 as skilled simulation only: forgers who practised the reference writer's "
            "signature (SVC2004, SUSIG, SigComp2011). The system has not been validated for disguise (the "
            "reference writer altering their own signature to deny it later), for auto-forgery, or for traced "
            "or machine-replayed signatures; in those situations the LR may mislead.",
            "The calibration was fitted on public research data sets ({fitted}) and validated on {validated}. "
            "Casework populations, devices and forgers may differ; the rates of misleading evidence above are "
            "those of the validation data, not of this case.",
            "The calibration is not per device class. Its data come from pen tablets and signature pads; no "
            "finger-on-glass data set with enough writers is available here (the SCUT-MMSIG sample holds one "
            "writer), so a signature written with a finger on a touch screen is evaluated with the pen-tablet "
            "calibration, and its LR may be miscalibrated.",
            "The LR evaluates the signing dynamics recorded by the capture devices. It assumes the reference "
            "signatures are genuine and were captured under comparable conditions.",
            "Channels missing on either side (e.g. pressure from a finger or mouse) are not compared, which "
            "lowers discrimination. Repaired timestamps and nominal timing (listed above) limit the "
            "reliability of timing features.",
            "This report supports, and does not replace, the judgement of a qualified document examiner.",
        ],
        "s_sign": "8. Examiner", "signature": "Signature", "sign_date": "Date",
    },
    "zh": {
        "title": "笔迹动态特征比对分析报告",
        "case": "案件编号", "date": "报告日期", "examiner": "检验人", "qualification": "资格", "software": "软件",
        "not_stated": "未说明", "page": "第 {n} 页，共 {total} 页",
        "s_case": "一、案情与委托事项", "circumstances": "简要案情", "question": "委托事项",
        "default_question": "检材签名是否为样本签名的书写人所写？",
        "s_props": "二、假设",
        "props_note": "假设为来源层级的假设，在任何结果之前陈述。H2中的他人按摹仿样本书写人签名的情形建模（熟练摹仿），"
                      "这是校准所验证的情形。",
        "s_material": "三、检验材料",
        "item": "材料", "file": "送检文件", "file_sha": "送检文件的SHA-256", "packet_sha": "签名数据包的SHA-256（内部）",
        "not_file": "非文件形式送检", "reference": "样本{n}", "questioned": "检材",
        "points": "采样点", "strokes": "笔画", "duration": "时长（ms）", "rate": "采样率（Hz）", "channels": "记录通道",
        "device": "采集设备", "warnings": "质量提示", "none": "无",
        "origin": "来源与核验",
        "provenance": "材料来源", "custody": "各文件的SHA-256按送检时的原始字节计算；签名数据包是比对所用同一数据的"
                      "规范形式。送检之前的保管链以上述说明为准，本系统不对其进行核实。",
        "s_method": "四、方法及其验证",
        "method": "检材签名与样本签名通过时间函数的动态时间规整（DTW）和{n}个全局特征进行比较。融合分数经在未用于验证的"
                  "数据集上拟合的逻辑回归校准转换为似然比（LR）；似然比限定在校准数据的经验上下界（ELUB）之内。",
        "versions": "软件、模型与校准", "part": "部分", "model_part": "模型", "calibration_part": "校准",
        "version": "版本", "sha": "SHA-256", "trained": "训练数据",
        "fitted": "拟合数据",
        "populations": "数据集", "set": "数据集", "role": "用途", "population": "人群",
        "comparisons": "比较次数（真实/摹仿）", "validation_role": "验证（未用于拟合）", "training_role": "拟合（非验证）",
        "rates": "校准后似然比的性能", "eer": "等错误率", "cllr": "Cllr", "cllr_min": "Cllr_min",
        "h2_gt": "摹仿签名 LR > {x} 的比例", "h1_lt": "真实签名 LR < {x} 的比例",
        "rates_note": "误导性证据比例：摹仿签名（H2为真）得到大于1、10、100的似然比的比例，以及真实签名（H1为真）"
                      "得到小于1的似然比的比例。Cllr衡量似然比的总体代价（0为完美，1为无信息）；Cllr_min为具有相同区分能力"
                      "且校准完美的系统所能达到的值，两者之差为该数据上的校准误差代价。",
        "cal_population": "校准人群：{population}；真实签名比较{n_same}次，摹仿签名比较{n_different}次。校准数据均由数位板"
                          "和签名板采集。所有采集设备共用同一校准：目前无法按设备类别（压感笔数位板与手指触屏）分别校准，"
                          "因为此处没有书写人数量足够的手指触屏数据集（SCUT-MMSIG样本仅一名书写人）。",
        "elub": "ELUB界限：似然比限定在 {lo} 至 {hi} 之间（log10 {llo:+.2f} 至 {lhi:+.2f}），即校准数据所能支持的范围。",
        "headline": "在未用于拟合的{name}上，{h2_1}的摹仿签名得到大于1的似然比，{h2_10}大于10，{h2_100}大于100；"
                    "{h1_1}的真实签名得到小于1的似然比（Cllr {cllr:.3f}，Cllr_min {cllr_min:.3f}）。",
        "s_results": "五、检验结果",
        "visual": "（一）形态比较", "dynamics": "（二）书写动态",
        "dyn_note": "检材（红色）与经DTW对齐的样本{n}（灰色）的速度与压力曲线；阴影为差异最大的{k}个片段。",
        "features": "（三）全局特征", "feature": "特征", "unit": "单位", "q": "检材", "range": "样本范围",
        "mean": "样本均值 ± 标准差", "z": "z值", "flag": "显著差异", "flag_mark": "是",
        "scores": "（四）分数分项", "component": "模型融合的分项（越高越接近样本）", "value": "数值",
        "fused": "综合分数", "observations": "观察所见",
        "s_opinion": "六、评价意见",
        "lr": "似然比（LR）", "log10lr": "log10 LR", "verbal": "ENFSI语言等级",
        "lr_sentence": "在{prop}的条件下观察到上述特征的概率约为在{other}条件下的{lr}倍。",
        "lr_equal": "在两个假设下观察到上述特征的概率大致相等。",
        "h1_short": "H1成立", "h2_short": "H2成立",
        "opinion_note": "似然比及其语言等级即为本报告的评价意见。它说明的是在各假设下观察到上述特征的概率，而不是各假设"
                        "本身成立的概率；后者还取决于案件中的其他证据，由法庭判断。ENFSI语言等级（似然比小于1时以其倒数"
                        "对H2同样分级）：1–10弱支持，10–100中等支持，100–1000中等偏强支持，1000–10000强支持，"
                        "10000–1000000很强支持，更高为极强支持。",
        "s_conclusion": "检验人结论（检验人本人的判断，并非由似然比推出）",
        "conclusion_note": "概率等级结论（如SWGDOC或GB/T 37239-2018的结论用语）说明的是某一假设成立的可能性，需要检验人"
                           "结合案情作出先验判断；仅凭似然比不能得出，本系统也不推导此类结论。",
        "s_limits": "七、局限性",
        "limitations": [
            "对H2的验证仅限于熟练摹仿，即练习过样本书写人签名的摹仿者（SVC2004、SUSIG、SigComp2011）。本系统未针对伪装"
            "书写（样本书写人故意改变自己的签名以便日后否认）、自我伪造、描摹或机器回放的签名进行验证；在这些情形下似然比"
            "可能产生误导。",
            "校准在公开研究数据集（{fitted}）上拟合，并在{validated}上验证。实际案件的人群、设备与摹仿者可能不同；"
            "上文的误导性证据比例是验证数据上的比例，而非本案的比例。",
            "校准未按设备类别区分。校准数据均来自数位板和签名板；此处没有书写人数量足够的手指触屏数据集（SCUT-MMSIG样本"
            "仅一名书写人），因此用手指在触摸屏上书写的签名按数位板数据的校准进行评价，其似然比可能校准不当。",
            "似然比评价的是采集设备记录的书写动态，并假定样本签名为真实签名且采集条件可比。",
            "任一方缺失的通道（如手指或鼠标书写无压力）不参与比较，会降低区分能力。上文列出的时间戳修复与名义时间会限制"
            "时间特征的可靠性。",
            "本报告为比对分析报告，不是司法鉴定意见书；司法鉴定意见书只能由依法登记的司法鉴定机构的鉴定人出具。本报告用于"
            "辅助而非取代合格文书检验人员的判断。",
        ],
        "s_sign": "八、检验人", "signature": "签名", "sign_date": "日期",
    },
}


# --- styles, paragraphs, tables -------------------------------------------------------------------

class _Styles:
    """Paragraph styles of one report, and the fonts they use."""

    def __init__(self, lang: str) -> None:
        cjk = register_pdf_font()
        self.lang = lang
        self.font = cjk if lang == "zh" else "Helvetica"
        self.bold = cjk if lang == "zh" else "Helvetica-Bold"
        # English text stays in Helvetica; characters it cannot encode (a Chinese name) switch to the CJK font.
        self.fallback = None if lang == "zh" else cjk
        wrap = "CJK" if lang == "zh" else None
        base = ParagraphStyle("base", fontName=self.font, fontSize=8.5, leading=11.5, wordWrap=wrap)
        self.styles = {
            "title": ParagraphStyle("title", parent=base, fontName=self.bold, fontSize=15, leading=19, spaceAfter=6),
            # Headings stay on the page of what they head.
            "h": ParagraphStyle("h", parent=base, fontName=self.bold, fontSize=11, leading=14, spaceBefore=8,
                                spaceAfter=4, keepWithNext=1),
            "h2": ParagraphStyle("h2", parent=base, fontName=self.bold, fontSize=9.5, leading=12, spaceBefore=5,
                                 spaceAfter=3, keepWithNext=1),
            "p": ParagraphStyle("p", parent=base, spaceAfter=2),
            "small": ParagraphStyle("small", parent=base, fontSize=7, leading=9, spaceAfter=2),
            # No space shrinkage: left-aligned text would draw a "shrunk" line past the cell's edge.
            "cell": ParagraphStyle("cell", parent=base, fontSize=7, leading=8.6, spaceShrinkage=0),
            "cellh": ParagraphStyle("cellh", parent=base, fontName=self.bold, fontSize=7, leading=8.6),
            "mono": ParagraphStyle("mono", parent=base, fontName="Courier", fontSize=6.3, leading=7.6, wordWrap=None),
            "bullet": ParagraphStyle("bullet", parent=base, leftIndent=10, bulletIndent=1, spaceAfter=2,
                                     bulletFontName=cjk if lang == "zh" else "Helvetica",
                                     bulletFontSize=5 if lang == "zh" else 8.5),
            "opinion": ParagraphStyle("opinion", parent=base, fontName=self.bold, fontSize=10, leading=13,
                                      spaceAfter=3),
        }

    def p(self, text: object, style: str = "p", bullet: str | None = None) -> Paragraph:
        """A paragraph showing ``text`` literally (the only way this module makes one)."""
        fallback = None if style == "mono" else self.fallback
        return Paragraph(escape(text, fallback), self.styles[style],
                         bulletText=bullet if bullet is None else escape(bullet))


def _table(st: _Styles, rows: list[list[Any]], widths: list[float], mono_cols: tuple[int, ...] = (),
           header: bool = True, heights: list[float | None] | None = None) -> Table:
    """A grid table whose every text cell is an escaped, wrapping paragraph."""
    cells = []
    for r, row in enumerate(rows):
        out = []
        for c, cell in enumerate(row):
            if isinstance(cell, Flowable):
                out.append(cell)
            elif cell is None or cell == "":
                out.append("")
            else:
                style = "cellh" if header and r == 0 else ("mono" if c in mono_cols else "cell")
                out.append(st.p(cell, style))
        cells.append(out)
    table = Table(cells, colWidths=widths, rowHeights=heights, repeatRows=1 if header else 0, hAlign="LEFT")
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#b0b8c8")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        # Empty cells take their height from the table font: keep it the paragraphs' size.
        ("FONTSIZE", (0, 0), (-1, -1), 7), ("LEADING", (0, 0), (-1, -1), 8.6),
        ("LEFTPADDING", (0, 0), (-1, -1), PAD), ("RIGHTPADDING", (0, 0), (-1, -1), PAD),
        ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        *([("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8ecf3"))] if header else []),
    ]))
    return table


def overflowing_cells(story: list[Flowable]) -> list[str]:
    """Text in any table of ``story`` wider than its cell (empty when everything wraps inside its column)."""
    problems = []
    for flow in story:
        if not isinstance(flow, Table):
            continue
        for r, row in enumerate(flow._cellvalues):
            for c, cell in enumerate(row):
                avail = flow._colWidths[c] - 2 * PAD
                if isinstance(cell, Table):
                    problems += overflowing_cells([cell])
                if isinstance(cell, Paragraph):
                    cell.wrap(avail, 1e6)
                    widest = max(cell.getActualLineWidths0() or [0])
                    if widest > avail + 0.5:
                        problems.append(f"row {r} col {c}: {cell.getPlainText()!r} is {widest:.0f} pt "
                                        f"in {avail:.0f} pt")
                elif isinstance(cell, Image) and cell.drawWidth > flow._colWidths[c] + 0.5:
                    problems.append(f"row {r} col {c}: image wider than its cell")
    return problems


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _pct(value: float | None) -> str:
    return "–" if value is None or value != value else f"{100 * value:.1f} %"


def _lr_text(log10_lr: float) -> str:
    return f"{10 ** log10_lr:.3g}"


# --- page furniture -----------------------------------------------------------------------------

def _canvas_maker(st: _Styles, t: dict[str, Any], data: ReportData, date: datetime) -> type:
    """A canvas that stamps the report date into the PDF and draws "page x of y" once the page count is known."""

    class ReportCanvas(rl_canvas.Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # reportlab's invariant mode dates every PDF 2000-01-01; the report date replaces it.
            stamp = self._doc._timeStamp
            stamp.t = date.timestamp()
            stamp.lt = date.timetuple()
            stamp.YMDhms = tuple(date.timetuple())[:6]
            stamp.dhh = stamp.dmm = 0
            self._pages: list[dict] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for n, state in enumerate(self._pages, 1):
                self.__dict__.update(state)
                footer = (f"{t['title']}  ·  {t['case']}: {data.case_id or t['not_stated']}  ·  "
                          f"{date.date().isoformat()}  ·  {t['page'].format(n=n, total=total)}")
                if st.lang == "zh":
                    footer = footer.replace("  ·  ", "　")
                para = st.p(footer, "small")
                _, height = para.wrap(WIDTH, 30 * mm)
                para.drawOn(self, MARGIN, 8 * mm)
                self.setStrokeColor(colors.HexColor("#b0b8c8"))
                self.setLineWidth(0.3)
                self.line(MARGIN, 8 * mm + height + 1, MARGIN + WIDTH, 8 * mm + height + 1)
                super().showPage()
            super().save()

    return ReportCanvas


# --- the story ------------------------------------------------------------------------------------

def build_story(data: ReportData, references: list[Signature], questioned: Signature, calibration: Calibration,
                lang: str = "en", fingers: FingerCase | None = None) -> list[Flowable]:
    """The report's flowables, in order (``render`` lays them out; tests inspect them)."""
    if lang not in TEXT:
        raise ValueError(f"language must be 'en' or 'zh', got {lang!r}")
    t = TEXT[lang]
    st = _Styles(lang)
    colon = "：" if lang == "zh" else ": "
    date = datetime.fromisoformat(data.report_date) if data.report_date else None
    story: list[Flowable] = [st.p(t["title"], "title")]
    header = [[t["case"], data.case_id or t["not_stated"]],
              [t["date"], date.date().isoformat() if date else t["not_stated"]],
              [t["examiner"], data.examiner or t["not_stated"]],
              [t["qualification"], data.qualification or t["not_stated"]],
              [t["software"], f"inkwitness {data.software.get('inkwitness', __version__)}"]]
    story.append(_table(st, header, [35 * mm, WIDTH - 35 * mm], header=False))

    # 1-2: the case and the propositions, before any result.
    story.append(st.p(t["s_case"], "h"))
    story.append(st.p(f"{t['circumstances']}{colon}{data.circumstances or t['not_stated']}"))
    story.append(st.p(f"{t['question']}{colon}{data.question or t['default_question']}"))
    story.append(st.p(t["s_props"], "h"))
    end = "。" if lang == "zh" else "."
    story.append(st.p(f"H1{colon}{PROPOSITIONS[lang]['h1']}{end}"))
    story.append(st.p(f"H2{colon}{PROPOSITIONS[lang]['h2']}{end}"))
    story.append(st.p(t["props_note"], "small"))

    # 3: material examined, identified by the files as submitted and by the packets compared.
    story.append(st.p(t["s_material"], "h"))
    refs_seen = 0
    labels = []
    for info in data.inputs:
        if info.role == "questioned":
            labels.append(t["questioned"])
        else:
            refs_seen += 1
            labels.append(t["reference"].format(n=refs_seen))
    rows = [[t["item"], t["file"], t["file_sha"], t["packet_sha"]]]
    for label, info in zip(labels, data.inputs):
        rows.append([label, info.file_name or t["not_file"], info.file_sha256 or "–", info.sha256])
    story.append(_table(st, rows, [17 * mm, 33 * mm, 64 * mm, WIDTH - 114 * mm], mono_cols=(2, 3)))
    story.append(Spacer(1, 3))
    rows = [[t["item"], t["origin"]]]
    rows += [[label, source_label(info.source, lang)] for label, info in zip(labels, data.inputs)]
    story.append(_table(st, rows, [17 * mm, WIDTH - 17 * mm]))
    story.append(Spacer(1, 3))
    rows = [[t["item"], t["points"], t["strokes"], t["duration"], t["rate"], t["channels"]]]
    for label, info in zip(labels, data.inputs):
        rows.append([label, info.points, info.strokes, f"{info.duration_ms:.0f}", f"{info.rate_hz:.0f}",
                     channels_label(info.channels, lang)])
    story.append(_table(st, rows, [22 * mm, 16 * mm, 16 * mm, 20 * mm, 20 * mm, WIDTH - 94 * mm]))
    devices = sorted({device_label(i.device, lang) for i in data.inputs})
    story.append(st.p(f"{t['device']}{colon}" + ("；" if lang == "zh" else "; ").join(devices), "small"))
    warnings = [f"{label}{colon}{warning_label(code, detail, lang)}"
                for label, info in zip(labels, data.inputs) for code, detail in info.quality]
    story.append(st.p(f"{t['warnings']}{colon}" + (("；" if lang == "zh" else "; ").join(warnings) or t["none"]),
                      "small"))
    story.append(st.p(f"{t['provenance']}{colon}{data.provenance or t['not_stated']}", "small"))
    story.append(st.p(t["custody"], "small"))

    # 4: method, versions and validation figures, all computed from the calibration in use.
    story.append(st.p(t["s_method"], "h"))
    story.append(st.p(t["method"].format(n=len(data.model.get("global_features", [])))))
    story.append(st.p(t["versions"], "h2"))
    sw = data.software
    model, cal = sw.get("model", {}), sw.get("calibration", {})
    sep = "、" if lang == "zh" else ", "
    rows = [[t["part"], t["version"], t["sha"]],
            ["inkwitness", sw.get("inkwitness", __version__), "–"],
            [t["model_part"],
             f"{model.get('format', '')}; {t['trained']}{colon}"
             + sep.join(dataset_label(n, lang) for n in model.get("trained_on", [])), model.get("sha256", "–")],
            [t["calibration_part"],
             f"{cal.get('format', '')}; {t['fitted']}{colon}{dataset_label(cal.get('fitted_on', ''), lang)}",
             cal.get("sha256", "–")]]
    story.append(_table(st, rows, [24 * mm, 70 * mm, WIDTH - 94 * mm], mono_cols=(2,)))
    story.append(st.p(t["populations"], "h2"))
    rows = [[t["set"], t["role"], t["population"], t["comparisons"]]]
    for v in data.validation.values():
        rows.append([dataset_label(v["dataset"], lang), t[f"{v['role']}_role"],
                     dataset_population(v["dataset"], lang, v.get("population")),
                     f"{v['n_same']} / {v['n_different']}"])
    story.append(_table(st, rows, [36 * mm, 28 * mm, WIDTH - 92 * mm, 28 * mm]))
    fitting = next((v for v in data.validation.values() if v["role"] == "training"), None)
    if fitting is not None:
        story.append(st.p(t["cal_population"].format(
            population=calibration_population(fitting["dataset"], lang, fitting.get("population")),
            n_same=fitting["n_same"], n_different=fitting["n_different"]), "small"))
    story.append(st.p(t["rates"], "h2"))
    rows = [[t["set"], t["eer"], t["cllr"], t["cllr_min"], t["h2_gt"].format(x=1), t["h2_gt"].format(x=10),
             t["h2_gt"].format(x=100), t["h1_lt"].format(x=1)]]
    for v in data.validation.values():
        m = v["misleading"]
        rows.append([dataset_label(v["dataset"], lang), _pct(v["eer"]), f"{v['cllr']:.3f}", f"{v['cllr_min']:.3f}",
                     _pct(m["h2_lr_above_1"]), _pct(m["h2_lr_above_10"]), _pct(m["h2_lr_above_100"]),
                     _pct(m["h1_lr_below_1"])])
    rest = (WIDTH - 36 * mm) / 7
    story.append(_table(st, rows, [36 * mm] + [rest] * 7))
    story.append(st.p(t["rates_note"], "small"))
    first = next((v for v in data.validation.values() if v["role"] == "validation"), None)
    if first is not None:
        m = first["misleading"]
        story.append(st.p(t["headline"].format(
            name=dataset_label(first["dataset"], lang), h2_1=_pct(m["h2_lr_above_1"]), h2_10=_pct(m["h2_lr_above_10"]),
            h2_100=_pct(m["h2_lr_above_100"]), h1_1=_pct(m["h1_lr_below_1"]), cllr=first["cllr"],
            cllr_min=first["cllr_min"])))
    lo, hi = data.lr_bounds_log10
    story.append(st.p(t["elub"].format(lo=_lr_text(lo), hi=_lr_text(hi), llo=lo, lhi=hi)))
    tip = Image(io.BytesIO(figures.tippett(calibration, data.log10_lr, lang)), width=WIDTH * 0.52,
                height=WIDTH * 0.38, kind="proportional")
    det = Image(io.BytesIO(figures.det(calibration, lang)), width=WIDTH * 0.42, height=WIDTH * 0.38,
                kind="proportional")
    story.append(Table([[tip, det]], colWidths=[WIDTH * 0.55, WIDTH * 0.45]))

    # 5: results.
    story.append(PageBreak())
    story.append(st.p(t["s_results"], "h"))
    story.append(st.p(t["visual"], "h2"))
    closest = references[data.closest_reference - 1]
    story.append(Image(io.BytesIO(figures.trajectories(references, questioned, lang)), width=WIDTH,
                       height=WIDTH * 0.45, kind="proportional"))
    story.append(Image(io.BytesIO(figures.overlay(closest, questioned, lang)), width=WIDTH * 0.7,
                       height=WIDTH * 0.42, kind="proportional"))
    story.append(st.p(t["dynamics"], "h2"))
    story.append(Image(io.BytesIO(figures.dynamics(closest, questioned, data, lang)), width=WIDTH,
                       height=WIDTH * 0.5, kind="proportional"))
    story.append(st.p(t["dyn_note"].format(n=data.closest_reference, k=len(data.deviating_segments_ms)), "small"))
    story.append(Image(io.BytesIO(figures.pen_timing(references, questioned, lang)), width=WIDTH,
                       height=WIDTH * 0.3, kind="proportional"))
    story.append(st.p(t["features"], "h2"))
    rows = [[t["feature"], t["unit"], t["q"], t["range"], t["mean"], t["z"], t["flag"]]]
    for f in data.features:
        rows.append([feature_label(f.name, lang), unit_label(f.unit, lang), _fmt(f.questioned),
                     f"{_fmt(f.ref_min)} – {_fmt(f.ref_max)}", f"{_fmt(f.ref_mean)} ± {_fmt(f.ref_sd)}", f"{f.z:+.2f}",
                     t["flag_mark"] if f.flagged else ""])
    story.append(_table(st, rows, [52 * mm, 24 * mm, 18 * mm, 28 * mm, 28 * mm, 12 * mm, WIDTH - 162 * mm]))
    story.append(st.p(t["scores"], "h2"))
    rows = [[t["component"], t["value"]]]
    rows += [[component_label(k, lang), f"{v:+.3f}"] for k, v in data.components.items()]
    rows.append([t["fused"], f"{data.score:+.3f}"])
    story.append(_table(st, rows, [120 * mm, WIDTH - 120 * mm]))
    if data.observations.get(lang):
        story.append(st.p(t["observations"], "h2"))
        for line in data.observations[lang]:
            story.append(st.p(line, "bullet", bullet="●" if lang == "zh" else "•"))

    if data.fingerprints:
        story += _finger_section(st, data.fingerprints, fingers, lang)

    # 6: the opinion is the LR and its verbal equivalent.
    story.append(st.p(t["s_opinion"], "h"))
    rows = [[t["lr"], f"{data.lr:.3g}"], [t["log10lr"], f"{data.log10_lr:+.2f}"],
            [t["verbal"], data.enfsi[lang]]]
    story.append(_table(st, rows, [45 * mm, WIDTH - 45 * mm], header=False))
    story.append(Spacer(1, 3))
    magnitude = 10 ** abs(data.log10_lr)
    if magnitude < 1.005:
        sentence = t["lr_equal"]
    else:
        favoured = data.log10_lr > 0
        sentence = t["lr_sentence"].format(lr=f"{magnitude:.3g}", prop=t["h1_short"] if favoured else t["h2_short"],
                                           other=t["h2_short"] if favoured else t["h1_short"])
    story.append(st.p(sentence, "opinion"))
    story.append(st.p(t["opinion_note"], "small"))
    if data.examiner_conclusion:
        box = _table(st, [[t["s_conclusion"]], [data.examiner_conclusion], [t["conclusion_note"]]], [WIDTH])
        story.append(Spacer(1, 4))
        story.append(box)

    # 7: limitations.
    story.append(st.p(t["s_limits"], "h"))
    fitted = dataset_label(cal.get("fitted_on", ""), lang)
    validated = sep.join(dataset_label(v["dataset"], lang) for v in data.validation.values()
                         if v["role"] == "validation")
    for line in t["limitations"]:
        line = line.format(fitted=fitted, validated=validated or t["not_stated"])
        story.append(st.p(line, "bullet", bullet="●" if lang == "zh" else "•"))

    # 8: the examiner's signature block.
    block = [[t["examiner"], data.examiner or ""], [t["qualification"], data.qualification or ""],
             [t["signature"], ""], [t["sign_date"], date.date().isoformat() if date else ""]]
    table = _table(st, block, [35 * mm, 90 * mm], header=False, heights=[None, None, 16 * mm, None])
    story.append(KeepTogether([st.p(t["s_sign"], "h"), table]))
    return story


def _finger_section(st: _Styles, section: dict[str, Any], fingers: FingerCase | None, lang: str) -> list[Flowable]:
    """5.5: the finger-press captures, their scores against each reference, and the matcher's validated rates."""
    t = FINGER_TEXT[lang]
    out: list[Flowable] = [st.p(t["heading"], "h2"), st.p(t["method"])]

    def label(role: str) -> str:
        return t["questioned"] if role == "questioned" else t["reference"].format(n=role.split()[-1])

    rows = [[t["item"], t["file"], t["file_sha"], t["image"], t["nfiq2"], t["minutiae"]]]
    for c in section["captures"]:
        rows.append([label(c["role"]), c["file_name"] or t["not_file"], c["file_sha256"] or c["sha256"],
                     t["size"].format(w=c["width"], h=c["height"], ppi=c["ppi"]), c["nfiq2"], c["minutiae"]])
    out.append(_table(st, rows, [17 * mm, 26 * mm, 58 * mm, 41 * mm, 20 * mm, WIDTH - 162 * mm], mono_cols=(2,)))
    if fingers is not None:
        # Small thumbnails: enough to see that the captures are fingerprints, not for examination.
        shown = [("questioned", fingers.questioned)]
        shown += [(f"reference {i + 1}", fp) for i, fp in enumerate(fingers.references)]
        per_row, cell = 6, WIDTH / 6
        cells = []
        for role, fp in shown:
            side = 22 * mm
            image = Image(io.BytesIO(png_bytes(fp)), width=side, height=side * fp.height / fp.width,
                          kind="proportional")
            cells.append([image, st.p(label(role), "small")])
        grid = [cells[i:i + per_row] for i in range(0, len(cells), per_row)]
        grid[-1] += [""] * (per_row - len(grid[-1]))
        out.append(Spacer(1, 3))
        out.append(Table(grid, colWidths=[cell] * per_row, hAlign="LEFT"))
        out.append(st.p(t["images"], "small"))
    out.append(st.p(t["scores"], "h2"))
    threshold = section["threshold"]
    rows = [[t["item"], t["pairs"], t["score"], t["decision"].format(t=threshold)]]
    for c in section["comparisons"]:
        rows.append([t["reference"].format(n=c["reference"]), c["raw"], f"{c['score']:.1f}",
                     t["match"] if c["match"] else t["no_match"]])
    out.append(_table(st, rows, [30 * mm, 40 * mm, 25 * mm, WIDTH - 95 * mm]))
    best = section["best"]
    out.append(Spacer(1, 3))
    out.append(st.p(t["best"].format(score=best["score"], n=best["reference"], t=threshold,
                                     verdict=t["best_match"] if best["match"] else t["best_no_match"]), "opinion"))
    v = section["validation"]
    out.append(st.p(t["validation"].format(dataset=finger_dataset(v["dataset"]), impressions=v["impressions"],
                                           fingers=v["fingers"]), "h2"))
    rows = [[t["protocol"], t["counts"], t["eer"], t["fmr100"], t["fmr1000"], t["at_t"].format(t=v["threshold"])]]
    for p in v["protocols"]:
        at = (f"{_pct2(p['fmr_at_threshold'])} / {_pct2(p['fnmr_at_threshold'])}" if "fmr_at_threshold" in p
              else "–")
        rows.append([t["protocols"].get(p["protocol"], p["protocol"]), f"{p['n_genuine']} / {p['n_impostor']}",
                     _pct2(p["eer"]), _pct2(p["fmr100"]), _pct2(p["fmr1000"]), at])
    out.append(_table(st, rows, [WIDTH - 130 * mm, 26 * mm, 18 * mm, 18 * mm, 18 * mm, 50 * mm]))
    out.append(st.p(t["rates_note"].format(file=v["figures_file"], sha=v["figures_sha256"]), "small"))
    out.append(st.p(t["caveat"], "small"))
    return out


def _pct2(value: float | None) -> str:
    return "–" if value is None or value != value else f"{100 * value:.2f} %"


def render(data: ReportData, references: list[Signature], questioned: Signature, calibration: Calibration,
           lang: str = "en", fingers: FingerCase | None = None) -> bytes:
    """Render the report PDF; the same data (including the report date) give the same bytes."""
    story = build_story(data, references, questioned, calibration, lang, fingers=fingers)
    t = TEXT[lang]
    st = _Styles(lang)
    date = datetime.fromisoformat(data.report_date) if data.report_date else datetime(2000, 1, 1, tzinfo=timezone.utc)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=14 * mm,
                            bottomMargin=18 * mm, title=t["title"], author="inkwitness", invariant=1,
                            creator=f"inkwitness {__version__}")
    doc.build(story, canvasmaker=_canvas_maker(st, t, data, date))
    return buf.getvalue()
