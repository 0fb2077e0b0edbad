"""Error bodies a person can read: a stable machine ``code`` and a ``message`` in Chinese or English.

Every JSON error the service sends keeps ``error`` (the English text, with its details: clients and
tests match on it) and gains ``code`` (stable, for programs), ``message`` (for a person, in the
language of ``Accept-Language``: zh* gives Chinese, anything else English) and ``lang``. The
Chinese text says what went wrong in general; the English ``error`` keeps the particulars.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import InkwitnessError, snake_case

#: Codes of errors that are not exceptions of ours (HTTP-level refusals), by status.
STATUS_CODES: dict[int, str] = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 410: "gone", 413: "too_large", 415: "unsupported_format", 422: "invalid_request",
    429: "rate_limited", 500: "internal", 503: "unavailable",
}
#: The code of an error body from a status no table names (kept general on purpose).
FALLBACK = {4: "bad_request", 5: "internal"}

#: What each code means, in Chinese. tests/test_ceremony_messages.py fails on a code without one.
ZH: dict[str, str] = {
    # HTTP-level
    "bad_request": "请求无效。",
    "unauthorized": "需要有效的 API 密钥：密钥缺失、未知、已吊销或已过期。",
    "forbidden": "此 API 密钥无权执行该操作。",
    "not_found": "未找到所请求的内容。",
    "method_not_allowed": "此地址不支持该请求方法。",
    "conflict": "该请求与已有数据冲突。",
    "gone": "此链接已被使用或已过期，或内容已不再提供。请向发件人索取新链接。",
    "too_large": "请求内容过大。",
    "invalid_request": "请求中的某些字段缺失或无效。",
    "rate_limited": "此 API 密钥的请求过于频繁，请稍后重试。",
    "internal": "服务器内部错误。报告问题时请提供请求编号。",
    "unavailable": "服务的存储暂时不可用（繁忙、已满或无法访问），请稍后重试。",
    # our exceptions (InkwitnessError.code)
    "unprocessable": "服务器无法处理此请求。",
    "invalid_signature": "签名数据无效：格式错误、为空或数值异常。",
    "unsupported_format": "不支持此文件或数据格式。",
    "dataset_error": "数据集缺失、不完整或结构不符合要求。",
    "enrolment_error": "无法建立签名登记：参考签名数量不足，或其中某个签名与其他签名差异过大。",
    "incompatible_signatures": "两个签名共同记录的数据通道太少，无法比对。",
    "storage_error": "服务的存储暂时不可用，请稍后重试。",
    "comparison_budget_exceeded": "服务器繁忙，本次比对超出了单次请求的计算时间预算，已停止且未保存任何结果。请稍后重试。",
    "undecryptable": "无法解密已存储的数据（存储密钥不符），请联系管理员。",
    "stale_key": "存储密钥正在轮换，此服务进程暂时无法写入数据，请稍后重试。",
    "handwriting_refused": "笔迹与登记的签名不符，拒绝封存。",
    "replay_refused": "该签名是已存储签名的副本（重放），拒绝封存。",
    "fingerprint_refused": "指纹与登记的指纹不符，拒绝封存。",
    "invalid_fingerprint": "指纹数据无效。",
    "low_quality_capture": "指纹采集质量过低，请重新按压。",
    "source_error": "报告所需的数据来源缺失或无法读取。",
    "evidence_error": "证据（PDF 签章、封存或日志）无法生成或验证。",
    "binding_error": "该签名已绑定到其他文件或其他请求，不能再次使用。",
    "binding_mismatch": "该签名是为另一份文件或另一次签署采集的，不能用于此文件。请重新签名。",
    "binding_missing": "该签名缺少此次签署的绑定信息，无法封存。请在签署页面上重新签名。",
    "nonce_unknown": "该签名的绑定码不是本服务器为此次签署签发的，拒绝封存。请重新签名。",
    "nonce_expired": "该签名的绑定码已过期。请向发件人索取新链接后重新签名。",
    "nonce_used": "该签名的绑定码已被使用过（每个绑定码只能封存一次）。请重新签名。",
    "ocsp_unavailable": "无法获得可用的证书状态（OCSP）应答：未指定应答服务器、无法访问或应答无效。",
    "witness_error": "透明日志见证方无法确认日志。",
    "witness_conflict": "透明日志见证方发现日志前后不一致。",
    "document_error": "该文件不是可以显示的 PDF，或所选页面不存在。",
    # the ceremony's own refusals (ceremony/errors.py)
    "link_used": "此签署链接已被使用或已过期。请向发件人索取新链接。",
    "link_expired": "此签署链接已过期。请向发件人索取新链接。",
    "request_declined": "此签署请求已被拒绝。",
    "copy_expired": "此处已不再提供副本，请向发件人索取。",
    "no_document": "此链接没有需要签署的文件。",
    "sealing_unavailable": "此服务器未配置文件封存（时间戳服务、托管密钥或证书）。",
}


def known_codes() -> dict[str, type[InkwitnessError]]:
    """Every error class loaded now, by name (subclasses of subclasses included)."""
    found: dict[str, type[InkwitnessError]] = {InkwitnessError.__name__: InkwitnessError}
    todo = [InkwitnessError]
    while todo:
        for sub in todo.pop().__subclasses__():
            found[sub.__name__] = sub
            todo.append(sub)
    return found


def code_of(status: int, body: dict[str, Any]) -> str:
    """The machine code of an error body: from its exception ``type``, else from the status."""
    kind = body.get("type")
    if isinstance(kind, str) and kind:
        cls = known_codes().get(kind)
        return cls.code if cls is not None else snake_case(kind)
    return STATUS_CODES.get(status) or FALLBACK.get(status // 100, "bad_request")


def pick_lang(accept_language: str | None) -> str:
    """``zh`` or ``en`` from an Accept-Language header (the first of zh*/en* by quality; default en)."""
    best, best_q = "en", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        m = re.search(r"q\s*=\s*([0-9.]+)", params)
        try:
            q = float(m.group(1)) if m else 1.0
        except ValueError:
            continue
        lang = "zh" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        if lang and q > best_q and q > 0:
            best, best_q = lang, q
    return best


def localise(status: int, body: dict[str, Any], lang: str) -> dict[str, Any]:
    """The body with ``code``, ``message`` (in ``lang``) and ``lang`` added; ``error`` is left as it is."""
    code = body.get("code") if isinstance(body.get("code"), str) else code_of(status, body)
    english = body.get("error") if isinstance(body.get("error"), str) else ""
    if lang == "zh" and code in ZH:
        message = ZH[code]
    else:
        lang, message = "en", english or code.replace("_", " ")
    return {**body, "code": code, "message": message, "lang": lang}
