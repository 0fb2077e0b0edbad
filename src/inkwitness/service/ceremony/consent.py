"""The consent a signer gives before biometric capture, in the languages the ceremony speaks."""

from __future__ import annotations

import hashlib

#: The version of the texts below, recorded with every agreement. Change it whenever CONSENT or
#: TYPED_NOTICE changes: the recorded hashes pin the exact wording, the version names it.
CONSENT_VERSION = "2026-12"
CONSENT: dict[str, str] = {
    "en": ("To sign, you write your signature with your finger or a pen. Besides the picture of the "
           "signature, this records how you write it: the position of the pen over time and, if your "
           "device measures them, pressure and pen angle. These are biometric data. They are used only "
           "to show, if ever needed, that this signature was written by you. They are sealed into the "
           "signed document in encrypted form (escrow): only a trusted escrow holder can open them, "
           "for example for a court or a handwriting examiner. They are stored encrypted and are not "
           "shared for any other purpose. You can decline and sign on paper instead."),
    "zh": ("签署时，您用手指或手写笔写下签名。除签名图像外，系统还会记录书写过程：笔迹随时间变化的位置，"
           "以及（如果您的设备能够测量）压力和笔的角度。这些属于生物特征数据，仅用于在必要时证明该签名由您本人书写。"
           "这些数据以加密形式封存在已签署的文件中（第三方托管）：只有受信任的托管方才能打开，例如应法院或笔迹鉴定人的要求。"
           "数据加密保存，不会用于其他任何目的。您可以拒绝，改为在纸质文件上签字。"),
}
#: What a typed name is worth, stated before the signer chooses it.
TYPED_NOTICE: dict[str, str] = {
    "en": ("A typed name records no handwriting. It shows that someone with this link agreed, but it "
           "cannot later be compared with your handwriting, so it carries less weight as evidence than "
           "a handwritten signature."),
    "zh": "键入的姓名不包含任何笔迹。它能表明持有此链接的人表示同意，但日后无法与您的笔迹比对，因此作为证据的效力低于手写签名。",
}


def consent_sha256(lang: str) -> str:
    """The hash of the consent text shown in ``lang`` (recorded with the signature)."""
    return hashlib.sha256(CONSENT[lang].encode()).hexdigest()


def notice_sha256(lang: str) -> str:
    """The hash of the typed-name notice shown in ``lang`` (recorded with a typed name)."""
    return hashlib.sha256(TYPED_NOTICE[lang].encode()).hexdigest()
