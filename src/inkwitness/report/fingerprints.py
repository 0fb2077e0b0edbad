"""The finger-press part of a case: quality, minutiae and matcher scores of the captures, with validated rates.

The numbers come from the fingerprint library (NFIQ 2, mindtct, bozorth3 through
``inkwitness.fingerprint``) and the matcher's error rates from the figures file stored
with the model (``models/fingerprint-fvc2002-db1b.json``), never typed in here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ..fingerprint import Fingerprint, LowQualityCapture, Matcher, require_quality
from ..fingerprint.figures import RESOURCE, load_figures
from ..fingerprint.matcher import MATCH_THRESHOLD

#: The protocols the report quotes, in order; the raw-bozorth3 rows only show what the normalisation adds.
PROTOCOLS = ("FVC protocol", "all impostors", "enrolment of impressions 1-3, best match")


@dataclass(frozen=True)
class FingerCase:
    """The finger-press material: the questioned capture, the reference impressions, and the files as submitted.

    ``submitted`` follows the signatures' order: references first, then the questioned capture.
    """

    questioned: Fingerprint
    references: list[Fingerprint]
    submitted: list[Any] = field(default_factory=list)


def analyse_fingers(case: FingerCase, figures: dict[str, Any] | None = None) -> dict[str, Any]:
    """Quality and minutiae of every capture, the questioned one's score against each reference, and the rates.

    A capture the library would refuse (NFIQ 2, minutiae, ridge flow) raises ``LowQualityCapture``
    naming it: a comparison with it would not be relied on.
    """
    if not case.references:
        raise LowQualityCapture("a finger-press comparison needs at least one reference impression")
    submitted = list(case.submitted or [])
    submitted += [None] * (len(case.references) + 1 - len(submitted))
    captures, templates = [], []
    items = [("questioned", case.questioned, submitted[-1])]
    items += [(f"reference {i + 1}", fp, submitted[i]) for i, fp in enumerate(case.references)]
    for role, fp, sub in items:
        name = sub.name if sub is not None and sub.name else role
        try:
            extraction, quality = require_quality(fp)
        except LowQualityCapture as exc:
            raise LowQualityCapture(f"finger-press {role} ({name}): {exc}") from exc
        templates.append(extraction.template)
        captures.append({"role": role, "file_name": sub.name if sub is not None else None,
                         "file_sha256": sub.sha256 if sub is not None else None, "sha256": fp.sha256,
                         "width": fp.width, "height": fp.height, "ppi": fp.ppi, "nfiq2": quality.nfiq2,
                         "minutiae": quality.minutiae, "coherence": quality.coherence})
    matcher = Matcher()
    comparisons = []
    for i, template in enumerate(templates[1:], 1):
        c = matcher.compare(templates[0], template)
        comparisons.append({"reference": i, "raw": c.raw, "score": round(c.score, 2),
                            "minutiae": list(c.minutiae), "match": c.score >= MATCH_THRESHOLD})
    best = max(comparisons, key=lambda c: c["score"])
    if figures is None:
        figures, source = load_figures(), RESOURCE
        stored = resources.files("inkwitness").joinpath(RESOURCE).read_bytes()
    else:
        # Figures handed in (another evaluation): named as such, hashed in the stored file's form.
        source, stored = "supplied", (json.dumps(figures, indent=1, sort_keys=True) + "\n").encode()
    return {
        "captures": captures, "comparisons": comparisons, "threshold": MATCH_THRESHOLD,
        "best": {"reference": best["reference"], "score": best["score"], "match": best["match"]},
        "validation": {"dataset": figures["dataset"], "impressions": figures["impressions"],
                       "fingers": figures["fingers"], "threshold": figures["threshold"],
                       "tuned_on_same_data": figures.get("tuned_on_same_data", True),
                       "matcher": figures["matcher"], "figures_file": source,
                       "figures_sha256": hashlib.sha256(stored).hexdigest(),
                       "protocols": [p for name in PROTOCOLS for p in figures["protocols"] if p["protocol"] == name]},
    }


TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "heading": "5.5 Finger-press comparison",
        "method": "The finger-press images were compared by their minutiae: NIST mindtct extracts them, NIST "
                  "bozorth3 counts compatible minutia pairs (best of both directions), and the count is divided by "
                  "the geometric mean of the two minutia counts (times 40). NFIQ 2 (ISO/IEC 29794-4) grades each "
                  "capture from 0 to 100. Captures with NFIQ 2 below 20, fewer than 12 minutiae or no coherent "
                  "ridge flow are refused. The score is not a likelihood ratio and does not enter the signature's "
                  "LR above.",
        "item": "Item", "file": "Submitted file", "file_sha": "SHA-256 of the submitted file", "image": "Image",
        "nfiq2": "NFIQ 2 (0-100)", "minutiae": "Minutiae", "size": "{w} x {h} px, {ppi:g} ppi",
        "questioned": "Questioned", "reference": "Reference {n}", "not_file": "not submitted as a file",
        "scores": "Questioned finger-press against each reference impression",
        "pairs": "Compatible minutia pairs", "score": "Score", "decision": "Decision at threshold {t:g}",
        "match": "match (same finger)", "no_match": "no match",
        "best": "Highest score: {score:.1f}, against reference {n}; {verdict} the operating threshold {t:g}.",
        "best_match": "at or above", "best_no_match": "below",
        "validation": "Validated error rates of the matcher on {dataset} ({impressions} impressions of {fingers} "
                      "fingers, 500 ppi optical sensor)",
        "protocol": "Protocol", "counts": "Genuine / impostor comparisons", "eer": "EER", "fmr100": "FMR100",
        "fmr1000": "FMR1000", "at_t": "FMR / FNMR at threshold {t:g}",
        "protocols": {"FVC protocol": "FVC protocol (every pair of one finger; first impressions of different "
                                      "fingers)",
                      "all impostors": "all impostors (every impression against every impression of other "
                                       "fingers; not independent)",
                      "enrolment of impressions 1-3, best match": "impressions 1-3 as references, 4-8 "
                                                                  "questioned, best of three"},
        "rates_note": "EER as FVC defines it; FMR100 and FMR1000: the lowest false non-match rate with at most 1 % "
                      "and 0.1 % false matches. With 45 impostor comparisons the smallest measurable false match "
                      "rate is 2.2 %, with 450 it is 0.22 %: such FMR1000 values are the false non-match rate at "
                      "zero false matches, nothing finer. Figures file: {file} (SHA-256 {sha}).",
        "caveat": "Caveat: FVC2002 DB1_B is the only fingerprint data set available to this system. The score "
                  "normalisation and the decision threshold were chosen on the same 80 images these rates are "
                  "measured on, and only 10 fingers are represented, so the rates are optimistic and say little "
                  "about other sensors, populations or pressing conditions.",
        "images": "The finger-press images as submitted (grey, not to scale).",
    },
    "zh": {
        "heading": "（五）指纹捺印比对",
        "method": "指纹捺印图像按细节点进行比较：由NIST mindtct提取细节点，NIST bozorth3统计相容的细节点对（双向比较取"
                  "较大者），再除以两枚指纹细节点数的几何平均数（乘以40）。每次采集按NFIQ 2（ISO/IEC 29794-4）评定"
                  "0至100的质量分。NFIQ 2低于20、细节点少于12个或脊线走向不连贯的采集不予比较。该分数不是似然比，"
                  "也不计入上文签名的似然比。",
        "item": "材料", "file": "送检文件", "file_sha": "送检文件的SHA-256", "image": "图像",
        "nfiq2": "NFIQ 2质量分（0–100）", "minutiae": "细节点数", "size": "{w}×{h}像素，{ppi:g}像素/英寸",
        "questioned": "检材", "reference": "样本{n}", "not_file": "非文件形式送检",
        "scores": "检材指纹与各样本指纹的比较",
        "pairs": "相容细节点对数", "score": "分数", "decision": "阈值{t:g}下的判定",
        "match": "匹配（同一手指）", "no_match": "不匹配",
        "best": "最高分数为{score:.1f}（与样本{n}比较），{verdict}工作阈值{t:g}。",
        "best_match": "达到", "best_no_match": "低于",
        "validation": "比对算法在{dataset}上经验证的错误率（{fingers}个手指共{impressions}次按压，500像素/英寸光学采集器）",
        "protocol": "协议", "counts": "同指／异指比较次数", "eer": "等错误率", "fmr100": "FMR100",
        "fmr1000": "FMR1000", "at_t": "阈值{t:g}下的错误匹配率／错误不匹配率",
        "protocols": {"FVC protocol": "FVC2002标准协议（同指全部配对；异指仅取第一次按压）",
                      "all impostors": "全部异指比较（每次按压与其他手指的每次按压比较；彼此不独立）",
                      "enrolment of impressions 1-3, best match": "第1–3次按压作样本，第4–8次作检材，取三者最佳"},
        "rates_note": "等错误率按FVC2002的定义计算；FMR100与FMR1000为错误匹配率不超过1%与0.1%时的最低错误不匹配率。"
                      "异指比较只有45次时可测的最小错误匹配率为2.2%，450次时为0.22%，此时的FMR1000即错误匹配为零时的"
                      "错误不匹配率，不能更精细。数据来源：随软件发布的指纹性能数据文件（SHA-256 {sha}）。",
        "caveat": "说明：FVC2002 DB1_B是本系统唯一可用的指纹数据集。分数归一化方法与判定阈值是在测得上述错误率的同一批"
                  "80幅图像上选定的，且仅涉及10个手指，因此上述错误率偏乐观，难以说明其他采集器、人群或按压条件下的表现。",
        "images": "送检的指纹捺印图像（灰度，未按实际尺寸）。",
    },
}


def dataset_name(name: str) -> str:
    """The data set's public name (the same in both languages)."""
    return {"fvc2002-db1b": "FVC2002 DB1_B"}.get(name, name)
