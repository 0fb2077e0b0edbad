"""Sealing handwritten signatures into PDFs (PAdES B-T via pyHanko) and checking sealed PDFs.

Each signing is one incremental update that adds a signature field whose appearance is
the handwriting as vector ink (width from pressure), and a PAdES signature under the
configured certificate with an RFC 3161 signature time-stamp. The escrow container
travels inside that signature as a *signed* CMS attribute (OID ``EVIDENCE_OID``), so the
signature itself protects it and later incremental updates do not touch it. The
container is bound to the SHA-256 of the PDF as it was before this signing (its first
``document_length`` bytes), so a verifier can recompute the binding from the file alone.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from asn1crypto import cms, core
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.content import ImportedPdfPage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import AxisAlignment, SimpleBoxLayoutRule
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.fields import FieldMDPAction, FieldMDPSpec, MDPPerm
from pyhanko.sign.attributes import CMSAttributeProvider, SignedAttributeProviderSpec
from pyhanko.sign.general import SigningError
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext

from ..features.timefunctions import pen_down_segments
from ..signature import Signature
from .envelope import Container, EvidenceError, PublicKey, seal
from .pkcs11 import Pkcs11Key

#: An OID under the UUID arc 2.25 (ITU-T X.667), so no registration is needed.
EVIDENCE_OID = "2.25.321941203903468491933928479193669049583"
EVIDENCE_ATTR = "inkwitness_evidence"
MAX_PDF_BYTES = 200 * 1024 * 1024

# Teach asn1crypto the attribute, as pyHanko does for its own CMS attributes.
cms.CMSAttributeType._map[EVIDENCE_OID] = EVIDENCE_ATTR
cms.CMSAttributeType._reverse_map = None
cms.CMSAttribute._oid_specs[EVIDENCE_ATTR] = cms.SetOfOctetString


class _EvidenceAttribute(CMSAttributeProvider):
    attribute_type = EVIDENCE_ATTR

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def build_attr_value(self, dry_run: bool = False) -> core.OctetString:
        return core.OctetString(self.data)


class _WithEvidence(SignedAttributeProviderSpec):
    def __init__(self, inner: SignedAttributeProviderSpec, data: bytes) -> None:
        self.inner = inner
        self.data = data

    def signed_attr_providers(self, data_digest: bytes, digest_algorithm: str):  # noqa: ANN201
        yield from self.inner.signed_attr_providers(data_digest=data_digest, digest_algorithm=digest_algorithm)
        yield _EvidenceAttribute(self.data)


class EvidenceMixin:
    """Adds the escrow container (``evidence``; none when empty) to a pyHanko signer's signed attributes."""

    evidence: bytes = b""

    def _signed_attr_provider_spec(self, *args: Any, **kwargs: Any) -> SignedAttributeProviderSpec:
        inner = super()._signed_attr_provider_spec(*args, **kwargs)  # type: ignore[misc]
        return _WithEvidence(inner, self.evidence) if self.evidence else inner


class EvidenceSigner(EvidenceMixin, signers.SimpleSigner):
    """A pyHanko signer that adds the escrow container as a signed CMS attribute."""

    @classmethod
    def from_files(cls, config: SealConfig) -> EvidenceSigner:
        """Load key, certificate and chain (SimpleSigner.load always builds a plain SimpleSigner)."""
        try:
            base = signers.SimpleSigner.load(str(config.key), str(config.cert),
                                             ca_chain_files=[str(p) for p in config.chain],
                                             key_passphrase=config.key_passphrase)
        except (OSError, ValueError) as exc:
            raise EvidenceError(f"cannot load the signing certificate or key: {exc}") from exc
        if base is None:
            raise EvidenceError("cannot load the signing certificate or key")
        return cls(signing_cert=base.signing_cert, signing_key=base.signing_key, cert_registry=base.cert_registry,
                   signature_mechanism=base.signature_mechanism)


@dataclass(frozen=True)
class SealConfig:
    """What sealing needs: the signing certificate and key, a TSA URL and the escrow public key."""

    cert: Path
    key: Path | None
    chain: tuple[Path, ...]
    tsa_url: str
    escrow: PublicKey
    key_passphrase: bytes | None = None
    #: What may change after the first seal. "locked" (default): nothing -- the first seal
    #: certifies the document (DocMDP) and every seal locks all form fields (FieldMDP);
    #: only signature fields reserved at the first seal can still be signed. "fill": form
    #: filling is allowed (DocMDP level 2) and fields are not locked.
    form_policy: str = "locked"
    #: CRLs (DER or PEM files) to embed: with them the seal is PAdES B-LTA -- revocation
    #: data in the DSS and a document time-stamp over everything -- instead of B-T.
    crls: tuple[Path, ...] = ()
    #: Ask the OCSP responders the signing and TSA certificates name (Authority Information
    #: Access) and embed their answers; any answer also makes the seal B-LTA. An unreachable
    #: responder is skipped (the CRLs then carry the revocation data); a REVOKED answer refuses,
    #: and so does having no revocation data at all (no answer and no CRL).
    ocsp: bool = False
    #: A PKI folder whose CA issues an event certificate for each signing (see
    #: :mod:`.event_certificate`): that certificate signs the handwriting field, then the
    #: seal certificate approves the result in an invisible field of its own
    #: (``inkwitness-seal-N``). None: the seal certificate signs the handwriting field.
    event_pki: Path | None = None
    #: How long an event certificate is valid.
    event_validity: dt.timedelta = dt.timedelta(hours=1)
    #: The seal key in a hardware module (``key`` is then unused; ``cert`` is its certificate).
    pkcs11: Pkcs11Key | None = None


FORM_POLICIES = ("locked", "fill")


@dataclass(frozen=True)
class FormField:
    """One terminal form field: its fully qualified name, type and value."""

    name: str
    kind: str
    value: str | None
    ref: Any = None


def _form_fields(root: Any) -> dict[str, FormField]:
    """Every terminal AcroForm field by fully qualified name (values inherited as PDF says)."""
    out: dict[str, FormField] = {}

    def walk(ref: Any, prefix: str, kind: str | None, value: Any, depth: int) -> None:
        if depth > 32:  # a /Kids cycle in a hostile file
            return
        node = ref.get_object()
        partial = node.get("/T")
        name = f"{prefix}.{partial}" if prefix and partial is not None else (str(partial) if partial is not None
                                                                             else prefix)
        kind = str(node.get("/FT", kind)) if node.get("/FT", kind) is not None else None
        value = node["/V"] if "/V" in node else value
        kids = [k for k in node.get("/Kids", []) if "/T" in k.get_object()]
        if kids:
            for kid in kids:
                walk(kid, name, kind, value, depth + 1)
        elif name:
            shown = None if value is None or kind == "/Sig" else str(value.get_object())
            out[name] = FormField(name, kind or "", shown if kind != "/Sig" else ("signed" if value is not None
                                                                                   else None), ref)

    form = root.get("/AcroForm")
    if form is not None:
        for ref in form.get_object().get("/Fields", []):
            walk(ref, "", None, None, 0)
    return out


def _docmdp_in_force(reader: PdfFileReader) -> MDPPerm | None:
    """The strictest DocMDP level any signature of the document declares (None: not certified)."""
    levels = [lvl for emb in reader.embedded_signatures if (lvl := emb.docmdp_level) is not None]
    return min(levels) if levels else None


def parse_box(text: str) -> tuple[float, float, float, float]:
    """Parse ``x1,y1,x2,y2`` in PDF points (finite numbers)."""
    try:
        values = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise EvidenceError(f"box must be four finite numbers x1,y1,x2,y2, got {str(text)[:60]!r}")
    return values  # type: ignore[return-value]


#: Height in points of the strip under the ink that holds the label (signer and TSA time).
LABEL_STRIP = 9.0


def render_ink_pdf(sig: Signature, width: float, height: float, bottom: float = 0.0,
                   mark: bytes | None = None) -> bytes:
    """A one-page vector PDF of the pen-down strokes fitted into ``width`` x ``height`` points.

    The ink stays above ``bottom`` points so that a label drawn there never covers it. A
    finger-press ``mark`` (RGBA PNG with its dpi) is pressed over the right end of it.
    """
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(width, height), invariant=1)
    ink_height = height - bottom
    margin = 0.08 * min(width, ink_height)
    # Stroke widths reach 1 pt on either side of the path; keep them off the label strip too.
    margin = max(margin, 1.5)
    xs, ys = sig.x, sig.y
    span_x = max(float(xs.max() - xs.min()), 1e-9)
    span_y = max(float(ys.max() - ys.min()), 1e-9)
    scale = min((width - 2 * margin) / span_x, (ink_height - 2 * margin) / span_y)
    off_x = (width - scale * span_x) / 2
    off_y = (ink_height - scale * span_y) / 2
    c.setLineCap(1)
    c.setLineJoin(1)
    c.setStrokeColorRGB(0.05, 0.1, 0.35)
    for a, b in pen_down_segments(sig):
        px = off_x + (xs[a:b] - xs.min()) * scale
        # Device y grows downwards; PDF y grows upwards.
        py = height - (off_y + (ys[a:b] - ys.min()) * scale)
        if b - a == 1:
            c.circle(float(px[0]), float(py[0]), 0.6, stroke=0, fill=1)
            continue
        for i in range(b - a - 1):
            p = float(sig.pressure[a + i + 1]) if sig.pressure is not None else 0.6
            c.setLineWidth(0.35 + 1.6 * p)
            c.line(float(px[i]), float(py[i]), float(px[i + 1]), float(py[i + 1]))
    if mark is not None:
        _draw_finger_mark(c, mark, width, height, bottom)
    c.showPage()
    c.save()
    return buf.getvalue()


def _draw_finger_mark(c: Any, mark: bytes, width: float, height: float, bottom: float) -> None:
    """The red finger-press at true size (shrunk only to fit), over the right end of the signature."""
    from PIL import Image
    from reportlab.lib.utils import ImageReader

    try:
        with Image.open(io.BytesIO(mark)) as im:
            im.load()
            dpi = float((im.info.get("dpi") or (500, 500))[0]) or 500.0
            size = im.size
            image = im.convert("RGBA")
    except OSError as exc:
        raise EvidenceError(f"finger-press mark is not a readable image: {exc}") from exc
    w, h = size[0] / dpi * 72, size[1] / dpi * 72
    scale = min(1.0, (height - bottom) / h, 0.5 * width / w)
    w, h = w * scale, h * scale
    c.drawImage(ImageReader(image), width - w, bottom + (height - bottom - h) / 2, w, h, mask="auto")


def _tsa_time(url: str, digest: bytes) -> tuple[str, bytes]:
    """A time-stamp token over ``digest`` from the TSA and its time (``YYYY-MM-DD HH:MM:SS UTC``)."""
    import asyncio

    try:
        token = asyncio.run(timestamps.HTTPTimeStamper(url).async_timestamp(digest, "sha256"))
        gen = token["content"]["encap_content_info"]["content"].parsed["gen_time"].native
    except Exception as exc:  # noqa: BLE001 - network and ASN.1 errors of many types
        raise EvidenceError(f"signing failed: the time-stamping authority at {url} did not answer: {exc}") from exc
    return gen.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"), token.dump()


def _page_of(writer: IncrementalPdfFileWriter, field_ref: Any) -> int | None:
    """The 1-based page a widget sits on, from its /P entry."""
    target = field_ref.get_object().get_value_as_reference("/P") if "/P" in field_ref.get_object() else None
    if target is None:
        return None
    for i in range(int(writer.root["/Pages"]["/Count"])):
        page_ref = writer.find_page_for_modification(i)[0]
        if getattr(page_ref, "idnum", None) == target.idnum:
            return i + 1
    return None


# --- revocation data: OCSP answers fetched for sealing and extension ------------------------

def _token_certs(token_der: bytes) -> list[asn1_x509.Certificate]:
    """The certificates a time-stamp token carries (the TSA's, to ask its OCSP responder about)."""
    token = cms.ContentInfo.load(token_der)
    return [c.chosen for c in token["content"]["certificates"] or [] if c.name == "certificate"]


def _describe(cert: asn1_x509.Certificate) -> str:
    return f"{cert.subject.human_friendly} (serial {cert.serial_number:x})"


#: At most this many OCSP requests per sealing or extension: a document can name many
#: certificates, and each unanswered request waits for its timeout.
MAX_OCSP_FETCHES = 16
#: How many intermediate CA certificates a chain to the trust roots may pass through.
_MAX_CHAIN = 5


def _directly_issued(cert: Any, issuer: Any) -> bool:
    """Whether ``issuer``'s key signed ``cert`` (and the names match): a check, not a name lookup."""
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except Exception:  # noqa: BLE001 - InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm
        return False


def _is_ca(cert: Any) -> bool:
    from cryptography import x509 as c_x509

    try:
        return bool(cert.extensions.get_extension_for_class(c_x509.BasicConstraints).value.ca)
    except (c_x509.ExtensionNotFound, ValueError):
        return False


def _trusted_issuer(cert: Any, roots: Sequence[Any], pool: Sequence[Any]) -> Any | None:
    """The certificate that issued ``cert`` when ``cert`` chains to one of ``roots``; None otherwise.

    Every link is checked by signature: a trust root, or a CA certificate from ``pool``
    (untrusted: the DSS, the signatures) that itself chains to a root.
    """
    current, issuer = cert, None
    for _ in range(_MAX_CHAIN + 1):
        root = next((r for r in roots if _directly_issued(current, r)), None)
        if root is not None:
            return issuer or root
        step = next((c for c in pool if c != current and _is_ca(c) and _directly_issued(current, c)), None)
        if step is None:
            return None
        issuer, current = issuer or step, step
    return None


def fresh_ocsp(certs: Sequence[asn1_x509.Certificate], issuers: Sequence[asn1_x509.Certificate],
               roots: Sequence[asn1_x509.Certificate] | None = None) -> list[Any]:
    """Fresh OCSP answers for ``certs`` from the responders they name; raises EvidenceError on REVOKED.

    Only certificates that chain to ``roots`` (default: ``issuers``) by signature are asked
    about: the URL a certificate names is fetched only once its CA is known to have issued
    it, so a crafted document cannot make us fetch URLs of its choosing. At most
    ``MAX_OCSP_FETCHES`` responders are asked (one warning says how many were left out).
    Certificates that name no responder, or whose responder does not answer usably, are
    skipped: the CRLs then carry their revocation data (pyHanko insists on one or the other).
    """
    import logging

    from asn1crypto import ocsp as asn1_ocsp
    from cryptography import x509 as c_x509

    from .ocsp import OcspUnavailable, fetch_ocsp, status_of

    log = logging.getLogger(__name__)

    def load(c: asn1_x509.Certificate) -> Any:
        try:
            return c_x509.load_der_x509_certificate(c.dump())
        except ValueError:
            return None

    trusted = [c for c in map(load, issuers if roots is None else roots) if c is not None]
    pool = [c for c in map(load, [*issuers, *certs]) if c is not None]
    wanted, seen = [], set()
    for cert in certs:
        key = (cert.issuer.dump(), cert.serial_number)
        if key in seen:
            continue
        seen.add(key)
        x_cert = load(cert)
        issuer = _trusted_issuer(x_cert, trusted, pool) if x_cert is not None else None
        if issuer is None:
            log.warning("no OCSP request for %s: it does not chain to the trust roots", _describe(cert))
            continue
        wanted.append((cert, x_cert, issuer))
    if len(wanted) > MAX_OCSP_FETCHES:
        log.warning("OCSP asked about the first %d of %d certificates only; the others need a CRL",
                    MAX_OCSP_FETCHES, len(wanted))
    out = []
    for cert, x_cert, issuer in wanted[:MAX_OCSP_FETCHES]:
        try:
            der = fetch_ocsp(x_cert, issuer)
            status, when, reason = status_of(der, x_cert.serial_number)
        except OcspUnavailable as exc:
            log.warning("no OCSP answer for %s: %s", _describe(cert), exc)
            continue
        if status == "REVOKED":
            raise EvidenceError(f"the certificate {_describe(cert)} was revoked on {when.isoformat()}"
                                f"{f' ({reason})' if reason else ''}, says its OCSP responder")
        out.append(asn1_ocsp.OCSPResponse.load(der))
    return out


def sign_pdf(pdf: bytes, sig: Signature, page: int, box: tuple[float, float, float, float], config: SealConfig,
             signer_name: str | None = None, reason: str = "Handwritten signature",
             location: str | None = None, expected_nonce: str | None = None,
             reserve: Sequence[tuple[int, tuple[float, float, float, float]]] = (),
             finger_mark: bytes | None = None, subject_id: str | None = None) -> tuple[bytes, Container]:
    """Seal a handwritten signature into a PDF; returns the new PDF bytes and the escrow container.

    The first seal certifies the document (see ``SealConfig.form_policy``) and may
    ``reserve`` signature fields (page, box) for further signers; a later seal fills the
    next reserved field, whose page and box win over the ones given. A packet bound at
    capture to another document (or to a nonce other than ``expected_nonce``) is refused
    (see :mod:`.binding`). ``finger_mark`` (``inkwitness.fingerprint.mark.mark_png``) is
    drawn into the signature's appearance, so the seal covers it. With
    ``config.event_pki`` the handwriting field is signed with an event certificate for
    ``signer_name`` (required) and ``subject_id``, and the seal approves in its own field.
    """
    from .binding import check_binding

    if len(pdf) > MAX_PDF_BYTES:
        raise EvidenceError(f"PDF is larger than {MAX_PDF_BYTES} bytes")
    check_binding(sig, hashlib.sha256(pdf).hexdigest(), expected_nonce)
    if config.form_policy not in FORM_POLICIES:
        raise EvidenceError(f"form policy must be one of {', '.join(FORM_POLICIES)}, got {config.form_policy!r}")
    event = config.event_pki is not None
    if event and not (signer_name or "").strip():
        raise EvidenceError("an event certificate names the signer: give the signer's display name")
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        pages = int(writer.root["/Pages"]["/Count"])
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        existing = len(reader.embedded_signatures)
        in_force = _docmdp_in_force(reader)
        form = _form_fields(writer.root)
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise EvidenceError(f"input is not a readable PDF: {exc}") from exc
    certify = existing == 0
    empty_reserved = [f for f in form.values() if f.kind == "/Sig" and f.value is None
                      and f.name.startswith("inkwitness-signature-")]
    if in_force == MDPPerm.NO_CHANGES:
        raise EvidenceError("the document is certified with no changes allowed; it cannot be signed again "
                            "(reserve signature fields at the first seal for further signers)")
    if empty_reserved:
        # A reserved field fixes where the next signer signs: filling it is what the
        # certification allows, adding a new visible field is not.
        target = empty_reserved[0]
        rect = [float(v) for v in target.ref.get_object()["/Rect"]]
        box = (min(rect[0], rect[2]), min(rect[1], rect[3]), max(rect[0], rect[2]), max(rect[1], rect[3]))
        field_name = target.name
        page = _page_of(writer, target.ref) or page
    elif in_force is not None:
        raise EvidenceError("the document is certified and has no empty reserved signature field left; further "
                            "signers need fields reserved at the first seal")
    else:
        taken = set(form)
        field_name = next(f"inkwitness-signature-{n}" for n in range(existing + 1, existing + 1000)
                          if f"inkwitness-signature-{n}" not in taken)
    x1, y1, x2, y2 = box
    if not (x2 > x1 and y2 > y1):
        raise EvidenceError("box must be x1,y1,x2,y2 with x2 > x1 and y2 > y1")
    if not 1 <= page <= pages:
        raise EvidenceError(f"page {page} does not exist (the document has {pages})")
    if reserve and not certify:
        raise EvidenceError("signature fields can be reserved only at the first seal (it certifies the document)")
    for r_page, r_box in reserve:
        if not 1 <= r_page <= pages or not (r_box[2] > r_box[0] and r_box[3] > r_box[1]):
            raise EvidenceError(f"reserved field on page {r_page} with box {r_box} is not on the document")
    number = int(field_name.rsplit("-", 1)[1])
    seal_field = f"{SEAL_FIELD_PREFIX}{number}"
    if event and in_force is not None and not (seal_field in form and form[seal_field].value is None):
        # A certification allowing form filling lets a signer fill an empty field, not add one.
        raise EvidenceError(f"the document is certified and holds no empty organisation seal field {seal_field} "
                            "for this signer; event-certificate signers need their seal fields reserved at the "
                            "first seal (seal it with an event certificate too)")
    # Every seal locks the form fields present now, so a value changed later breaks it.
    to_lock = sorted(f.name for f in form.values() if f.kind != "/Sig")
    # pyHanko's difference analysis flags *any* later revision (a reserved signature being
    # filled, the B-LTA DSS and document time-stamp) as touching FieldMDP-locked fields,
    # even when they are untouched. So the FieldMDP transform is used only when no
    # legitimate later revision is expected; otherwise the lock is the policy recorded in
    # the signed container, which verify_pdf enforces field by field.
    lock = (FieldMDPSpec(FieldMDPAction.INCLUDE, fields=to_lock)
            if config.form_policy == "locked" and to_lock and not reserve and not empty_reserved
            and not config.crls and not config.ocsp and not event else None)
    # The label shows a TSA time, not the local clock: a token over the document as it is
    # now, kept in the signed container so the label's time can be checked later.
    label_time, label_token = _tsa_time(config.tsa_url, hashlib.sha256(pdf).digest())
    container = seal(sig.canonical_bytes(), sig.sha256, hashlib.sha256(pdf).hexdigest(), config.escrow,
                     extra={"document_length": len(pdf), "field": field_name, "page": page,
                            "form_policy": config.form_policy, "label_time": label_time,
                            "label_timestamp_token": base64.b64encode(label_token).decode()})
    if not empty_reserved:
        fields.append_signature_field(writer, fields.SigFieldSpec(field_name, on_page=page - 1,
                                                                  box=(int(x1), int(y1), int(x2), int(y2)),
                                                                  field_mdp_spec=lock))
    if event and seal_field not in form:
        fields.append_signature_field(writer, fields.SigFieldSpec(seal_field, on_page=page - 1))
    for i, (r_page, r_box) in enumerate(reserve, 1):
        fields.append_signature_field(writer, fields.SigFieldSpec(
            f"inkwitness-signature-{number + i}", on_page=r_page - 1,
            box=tuple(int(v) for v in r_box), field_mdp_spec=lock))  # type: ignore[arg-type]
        if event:
            # Reserved now: once certified, a further signer may fill fields but not add them.
            fields.append_signature_field(writer, fields.SigFieldSpec(f"{SEAL_FIELD_PREFIX}{number + i}",
                                                                      on_page=r_page - 1))
    # Certify only a document nobody signed yet: no changes at all unless further signers
    # need their reserved fields (level 2 permits filling those), the organisation seal
    # follows an event-certificate signature in its own field, or the policy allows filling.
    docmdp = MDPPerm.FILL_FORMS if (reserve or event or config.form_policy == "fill") else MDPPerm.NO_CHANGES
    with _seal_signer(config) as seal_signer, tempfile.TemporaryDirectory() as tmp:
        signer = (_event_signer(config, str(signer_name), subject_id, hashlib.sha256(pdf).hexdigest())
                  if event else seal_signer)
        signer.evidence = container.to_bytes()
        ink = Path(tmp) / "ink.pdf"
        ink.write_bytes(render_ink_pdf(sig, x2 - x1, y2 - y1, bottom=LABEL_STRIP, mark=finger_mark))
        style = TextStampStyle(
            stamp_text=f"%(signer)s  TSA time {label_time}", background=ImportedPdfPage(str(ink)),
            background_opacity=1.0,
            border_width=0, text_box_style=TextBoxStyle(font_size=5),
            inner_content_layout=SimpleBoxLayoutRule(x_align=AxisAlignment.ALIGN_MIN,
                                                     y_align=AxisAlignment.ALIGN_MIN))
        chain = load_certs(list(config.chain))
        certs = [signer.signing_cert, *([seal_signer.signing_cert] if event else []), *_token_certs(label_token)]
        try:
            ocsps = fresh_ocsp(certs, chain) if config.ocsp else []
        except EvidenceError as exc:
            raise EvidenceError(f"signing refused: {exc}") from exc
        if config.ocsp and not (config.crls or ocsps):
            # Long-term evidence was asked for: do not quietly seal B-T without revocation data.
            raise EvidenceError("signing refused: long-term (B-LTA) sealing was asked for but no revocation data "
                                "could be obtained (no OCSP responder answered and no CRL was given); start the "
                                "OCSP responder ('inkwitness pki serve'), pass a CRL, or seal without --lta")
        lta = _lta_options(config, chain, ocsps)
        # With an event certificate its revocation data goes to the DSS at once; the
        # document time-stamp comes after the organisation seal, over everything.
        meta = signers.PdfSignatureMetadata(field_name=field_name, subfilter=fields.SigSeedSubFilter.PADES,
                                            md_algorithm="sha256", reason=reason, location=location,
                                            name=signer_name, certify=certify, docmdp_permissions=docmdp,
                                            **({**lta, "use_pades_lta": False} if event and lta else lta))
        out = _sign(writer, meta, signer, config, style)
        if event:
            seal_signer.evidence = b""  # the handwriting's container travels in the event signature only
            meta = signers.PdfSignatureMetadata(field_name=seal_field, subfilter=fields.SigSeedSubFilter.PADES,
                                                md_algorithm="sha256", reason=SEAL_REASON, location=location, **lta)
            out = _sign(IncrementalPdfFileWriter(out, strict=False), meta, seal_signer, config, None)
    return out.getvalue(), container


#: Invisible fields in which the organisation seal approves an event-certificate signature.
SEAL_FIELD_PREFIX = "inkwitness-seal-"
SEAL_REASON = "Organisation seal over the signer's event-certificate signature"


def _lta_options(config: SealConfig, chain: list[asn1_x509.Certificate], ocsps: list[Any]) -> dict[str, Any]:
    """pyHanko's B-LTA options when there is revocation data to embed; none (B-T) otherwise."""
    if not (config.crls or ocsps):
        return {}
    # pyHanko checks the certificates against these CRLs and OCSP answers before signing
    # (a revoked one is refused), then writes them to the DSS and adds a document time-stamp.
    return {"embed_validation_info": True, "use_pades_lta": True,
            "validation_context": ValidationContext(trust_roots=chain, crls=load_crls(list(config.crls)),
                                                    ocsps=ocsps, allow_fetching=False, revocation_mode="hard-fail")}


def _sign(writer: IncrementalPdfFileWriter, meta: signers.PdfSignatureMetadata, signer: signers.Signer,
          config: SealConfig, style: TextStampStyle | None) -> io.BytesIO:
    """One signature as one incremental update, pyHanko's errors named in one line."""
    pdf_signer = signers.PdfSigner(meta, signer, timestamper=timestamps.HTTPTimeStamper(config.tsa_url),
                                   stamp_style=style)
    try:
        return pdf_signer.sign_pdf(writer)
    except (SigningError, OSError, PdfError) as exc:
        # pyHanko's message is generic; the cause says why (e.g. the certificate is revoked).
        cause = exc.__cause__ or exc.__context__
        hint = ("; issue a fresh CRL ('inkwitness pki crl')" if cause and "CRL is not recent" in str(cause)
                else "")
        raise EvidenceError(f"signing failed: {exc}" + (f" ({cause}{hint})" if cause else "")) from exc
    except Exception as exc:
        # A hardware module fails mid-signing with its own exception types.
        if type(exc).__module__.startswith("pkcs11"):
            raise EvidenceError(f"signing failed in the PKCS#11 module: {str(exc) or type(exc).__name__}") from exc
        raise


@contextmanager
def _seal_signer(config: SealConfig) -> Iterator[Any]:
    """The organisation seal's signer: key and certificate from files, or the key in a PKCS#11 module."""
    if config.pkcs11 is None:
        yield EvidenceSigner.from_files(config)
        return
    from .pkcs11 import open_session, signer_class

    cert, chain = load_certs([config.cert])[0], load_certs(list(config.chain))
    with open_session(config.pkcs11) as session:
        yield signer_class(EvidenceMixin)(session, key_label=config.pkcs11.key_label, signing_cert=cert,
                                          ca_chain=chain)


def _event_signer(config: SealConfig, signer_name: str, subject_id: str | None,
                  document_sha256: str) -> EvidenceSigner:
    """A signer with a fresh event certificate for this act; its key lives only in this object."""
    from asn1crypto import keys as asn1_keys
    from cryptography.hazmat.primitives import serialization
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    from .event_certificate import issue_event_certificate
    from .pki import PkiPaths

    paths = PkiPaths(Path(str(config.event_pki)))
    if not paths.ca_key.exists():
        raise EvidenceError(f"{paths.folder} holds no CA key to issue event certificates with")
    event = issue_event_certificate(paths, signer_name, document_sha256, subject_id, config.event_validity)
    der = serialization.Encoding.DER
    cert = asn1_x509.Certificate.load(event.cert.public_bytes(der))
    key = asn1_keys.PrivateKeyInfo.load(event.key.private_bytes(der, serialization.PrivateFormat.PKCS8,
                                                                serialization.NoEncryption()))
    return EvidenceSigner(signing_cert=cert, signing_key=key,
                          cert_registry=SimpleCertificateStore.from_certs(load_certs(list(config.chain))))


# --- verification -----------------------------------------------------------------------

@dataclass
class SignatureCheck:
    """What verify_pdf found about one signature."""

    field: str
    signer: str | None = None
    #: "handwriting" (carries the escrow container) or "organisation seal" (approves an
    #: event-certificate signature; no handwriting of its own).
    role: str = "handwriting"
    #: The signer certificate: subject, serial, issuer; for an event certificate also
    #: ``event`` (the bound document hash and whether it is the revision signed).
    certificate: dict[str, Any] = field(default_factory=dict)
    intact: bool = False
    valid: bool = False
    trusted: bool = False
    signing_time: str | None = None
    timestamp: dict[str, Any] | None = None
    coverage: str = ""
    modified_after: bool | None = None
    modification_level: str | None = None
    certification: str | None = None
    field_changes: list[dict[str, Any]] = field(default_factory=list)
    ltv: dict[str, Any] = field(default_factory=dict)
    biometric: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def record_reverification(self, subject: str, outcome: dict[str, Any]) -> None:
        """Attach a handwriting re-verification; any verdict but genuine makes this signature fail."""
        self.biometric["reverification"] = {"subject": subject, **outcome}
        if "error" in outcome:
            self.problems.append(f"handwriting could not be re-verified against subject {subject}: "
                                 f"{outcome['error']}")
        elif outcome.get("decision") != "genuine":
            self.problems.append(f"handwriting re-verification against subject {subject} says "
                                 f"{outcome.get('decision')} (score {outcome.get('score', float('nan')):+.2f})")

    @property
    def ok(self) -> bool:
        """Cryptographically valid, trusted, time-stamped, biometric container bound, nothing disallowed after."""
        return (self.intact and self.valid and self.trusted and bool(self.timestamp and self.timestamp["valid"])
                and (self.role == ORGANISATION_SEAL or bool(self.biometric.get("bound"))) and not self.problems)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"field": self.field, "signer": self.signer, "role": self.role, "certificate": self.certificate,
                "intact": self.intact, "valid": self.valid,
                "trusted": self.trusted, "signing_time": self.signing_time, "timestamp": self.timestamp,
                "coverage": self.coverage, "modified_after": self.modified_after,
                "modification_level": self.modification_level, "certification": self.certification,
                "field_changes": self.field_changes, "ltv": self.ltv, "biometric": self.biometric,
                "problems": self.problems, "ok": self.ok}


def load_certs(paths: list[Path]) -> list[asn1_x509.Certificate]:
    """Certificates from PEM or DER files."""
    out = []
    for p in paths:
        data = Path(p).read_bytes()
        try:
            if asn1_pem.detect(data):
                for _, _, der in asn1_pem.unarmor(data, multiple=True):
                    cert = asn1_x509.Certificate.load(der)
                    cert.native  # noqa: B018 - forces a full parse
                    out.append(cert)
            else:
                cert = asn1_x509.Certificate.load(data)
                cert.native  # noqa: B018
                out.append(cert)
        except (ValueError, TypeError, OSError) as exc:
            raise EvidenceError(f"{p} is not a certificate (PEM or DER): {exc}") from exc
    return out


def load_crls(paths: list[Path]) -> list[Any]:
    """CRLs from PEM or DER files."""
    from asn1crypto import crl as asn1_crl

    out = []
    for p in paths:
        data = Path(p).read_bytes()
        try:
            ders = [der for _, _, der in asn1_pem.unarmor(data, multiple=True)] if asn1_pem.detect(data) else [data]
            for der in ders:
                item = asn1_crl.CertificateList.load(der)
                item.native  # noqa: B018 - forces a full parse
                out.append(item)
        except (ValueError, TypeError, OSError) as exc:
            raise EvidenceError(f"{p} is not a CRL (PEM or DER): {exc}") from exc
    return out


def _dss_revinfo(reader: PdfFileReader) -> tuple[list[Any], list[Any]]:
    """The CRLs and OCSP responses stored in the document security store (PAdES B-LT)."""
    from asn1crypto import crl as asn1_crl
    from asn1crypto import ocsp as asn1_ocsp

    dss = reader.root.get("/DSS")
    if dss is None:
        return [], []
    dss = dss.get_object()
    crls = [asn1_crl.CertificateList.load(ref.get_object().data) for ref in dss.get("/CRLs", [])]
    ocsps = [asn1_ocsp.OCSPResponse.load(ref.get_object().data) for ref in dss.get("/OCSPs", [])]
    for item in (*crls, *ocsps):
        item.native  # noqa: B018 - forces a full parse, so damage shows here and not mid-validation
    return crls, ocsps


def _dss_certs(reader: PdfFileReader) -> list[asn1_x509.Certificate]:
    """The certificates stored in the document security store."""
    dss = reader.root.get("/DSS")
    refs = dss.get_object().get("/Certs", []) if dss is not None else []
    return [asn1_x509.Certificate.load(ref.get_object().data) for ref in refs]


def _revoked_in(cert: asn1_x509.Certificate, crls: list[Any], ocsps: list[Any]
                ) -> tuple[dt.datetime, str | None, str] | None:
    """When, why and by what the revocation data says ``cert`` was revoked; None when it does not."""
    for resp in ocsps:
        try:
            for single in resp["response_bytes"]["response"].parsed["tbs_response_data"]["responses"]:
                cert_id = single["cert_id"]
                name_hash = hashlib.new(cert_id["hash_algorithm"]["algorithm"].native,
                                        cert.issuer.dump()).digest()
                if (cert_id["serial_number"].native == cert.serial_number
                        and cert_id["issuer_name_hash"].native == name_hash
                        and single["cert_status"].name == "revoked"):
                    info = single["cert_status"].chosen
                    reason = info["revocation_reason"].native if info["revocation_reason"].native else None
                    return info["revocation_time"].native, reason, "an OCSP response"
        except (KeyError, ValueError, TypeError, AttributeError):
            continue  # an unsuccessful or odd response says nothing about this certificate
    for crl in crls:
        if crl["tbs_cert_list"]["issuer"] != cert.issuer:
            continue
        for entry in crl["tbs_cert_list"]["revoked_certificates"] or []:
            if entry["user_certificate"].native == cert.serial_number:
                return entry["revocation_date"].native, entry.crl_reason_value.native if entry.crl_reason_value \
                    else None, "a CRL"
    return None


def _revocation_problems(status: Any, crls: list[Any], ocsps: list[Any], at: dt.datetime) -> list[str]:
    """Name a signing or signature-TSA certificate that was revoked by ``at``, per the DSS's revocation data.

    Only pyHanko's verdict counts (it checks who signed the CRL or OCSP response: the DSS
    itself is outside the signature); the DSS entry then says when and why.
    """
    parts = [("signing", status)]
    if status.timestamp_validity is not None:
        parts.append(("time-stamping authority", status.timestamp_validity))
    out = []
    for what, part in parts:
        cert = part.signing_cert
        if cert is None or not getattr(part, "revoked", False):
            continue
        found = _revoked_in(cert, crls, ocsps)
        detail = "" if found is None or found[0] > at else (
            f" on {found[0].isoformat()}{f' ({found[1]})' if found[1] else ''}, says {found[2]} in the DSS")
        out.append(f"the {what} certificate ({cert.subject.human_friendly}, serial {cert.serial_number:x}) was "
                   f"REVOKED{detail}")
    return out


def _contents_padding_ok(data: bytes, byte_range: list[int]) -> bool:
    # The /Contents hex string is zero-padded after the DER blob. pyHanko reads only the
    # DER, so a change in the padding would go unnoticed without this check.
    raw = data[byte_range[1]:byte_range[2]].strip()
    if not (raw.startswith(b"<") and raw.endswith(b">")):
        return False
    try:
        blob = bytes.fromhex(raw[1:-1].decode("ascii"))
    except ValueError:
        return False
    if len(blob) < 2 or blob[0] != 0x30:
        return False
    first = blob[1]
    if first < 0x80:
        length, header = first, 2
    else:
        n = first & 0x7F
        length, header = int.from_bytes(blob[2:2 + n], "big"), 2 + n
    return not any(blob[header + length:])


def _valid_at_signing_time(emb: Any, status: Any, ltv: dict[str, Any], roots: list[asn1_x509.Certificate],
                           crls: list[Any], ocsps: list[Any]) -> bool:
    """PAdES long-term validation, simplified: is the signature valid at its time-stamp's time?

    Applies only when a trusted document time-stamp (validated at the requested time)
    covers the signature and its revocation data; the signature is then validated at the
    signature time-stamp's time against the DSS's CRLs and OCSP responses, strictly.
    """
    ts = status.timestamp_validity
    if not (crls or ocsps) or ts is None or not (status.intact and status.valid):
        return False
    proven = [d for d in ltv["document_timestamps"] if d.get("valid") and d.get("trusted") and d.get("time")
              and dt.datetime.fromisoformat(d["time"]) >= ts.timestamp]
    if not proven:
        return False
    then = ts.timestamp
    revinfo = {"crls": crls, "ocsps": ocsps, "revocation_mode": "hard-fail"}
    try:
        again = validate_pdf_signature(
            emb, signer_validation_context=ValidationContext(trust_roots=roots, allow_fetching=False, moment=then,
                                                             **revinfo),
            ts_validation_context=ValidationContext(trust_roots=roots, allow_fetching=False, moment=then,
                                                    **revinfo))
    except Exception:  # noqa: BLE001 - any failure means it cannot be shown
        return False
    tsv = again.timestamp_validity
    return bool(again.intact and again.valid and again.trusted and tsv is not None and tsv.trusted)


def _document_timestamps(stamps: list[Any], roots: list[asn1_x509.Certificate], crls: list[Any],
                         ocsps: list[Any], at: dt.datetime | None) -> dict[str, Any]:
    """PAdES level and the document time-stamps (B-LTA), each validated against the trust roots."""
    from pyhanko.sign.validation import validate_pdf_timestamp

    revinfo = crls or ocsps
    out: dict[str, Any] = {"level": "B-LTA" if stamps and revinfo else "B-LT" if revinfo else "B-T",
                           "dss_crls": len(crls), "dss_ocsps": len(ocsps), "document_timestamps": []}
    for emb in stamps:
        try:
            # The DSS's CRLs describe the signing time; at a later validation time they are
            # stale, and current revocation data for the TSA cannot be fetched offline, so
            # the document time-stamp's chain is checked without them (soft-fail).
            status = validate_pdf_timestamp(emb, validation_context=ValidationContext(
                trust_roots=roots, allow_fetching=False, moment=at))
            out["document_timestamps"].append({"time": status.timestamp.isoformat(), "intact": bool(status.intact),
                                               "valid": bool(status.valid), "trusted": bool(status.trusted)})
        except Exception as exc:  # noqa: BLE001 - pyHanko raises many types on damaged input
            out["document_timestamps"].append({"error": f"{type(exc).__name__}: {str(exc)[:160]}", "valid": False})
    return out


def _unprotected_fields_problems(emb: Any) -> list[str]:
    """Fields of the CMS blobs no signature covers must still agree with what the signatures use.

    ``digestAlgorithms`` of a SignedData is outside every signature, so a change there
    would otherwise pass unnoticed; it must list each signer's digest algorithm.
    """
    out = []
    try:
        blobs = [("signature", emb.signed_data)]
        attrs = emb.signer_info["unsigned_attrs"]
        for attr in attrs if attrs else []:
            if attr["type"].native == "signature_time_stamp_token":
                blobs.append(("signature time-stamp token", attr["values"][0]["content"]))
        for what, signed_data in blobs:
            listed = {a["algorithm"].dotted for a in signed_data["digest_algorithms"]}
            used = {si["digest_algorithm"]["algorithm"].dotted for si in signed_data["signer_infos"]}
            if not used <= listed:
                out.append(f"the {what} is damaged: its digestAlgorithms do not list the digest its signer used")
    except Exception:  # noqa: BLE001 - unparseable structures are named by the validation itself
        return out
    return out


def _timestamp_token_problem(emb: Any, roots: list[asn1_x509.Certificate]) -> str | None:
    """Why the signature's time-stamp token is damaged, or None when it parses and verifies on its own."""
    import asyncio

    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data

    try:
        attrs = emb.signer_info["unsigned_attrs"]
        tokens = [a for a in attrs if a["type"].native == "signature_time_stamp_token"] if attrs else []
    except Exception:  # noqa: BLE001 - the unsigned attributes themselves are broken
        return "the signature time-stamp token is damaged (its attribute cannot be parsed)"
    if not tokens:
        return None
    try:
        token = tokens[0]["values"][0]
        token.native  # noqa: B018 - forces a full parse of the DER
        signed_data = token["content"]
        signature = emb.signer_info["signature"].native
        asyncio.run(validate_tst_signed_data(
            signed_data, ValidationContext(trust_roots=roots, allow_fetching=False),
            lambda algo: hashlib.new(algo, signature).digest()))
    except Exception as exc:  # noqa: BLE001 - asn1crypto and pyHanko raise many types here
        return f"the signature time-stamp token is damaged ({type(exc).__name__}: {str(exc)[:160]})"
    return None


def _certification_level(emb: Any) -> MDPPerm | None:
    """The DocMDP level when this is a certification signature (its own /DocMDP reference)."""
    for ref in emb.sig_object.get("/Reference", []):
        ref = ref.get_object()
        if ref.get("/TransformMethod") == "/DocMDP":
            return MDPPerm(int(ref.get("/TransformParams", {}).get("/P", 2)))
    return None


def _is_locked(spec: FieldMDPSpec, name: str) -> bool:
    if spec.action == FieldMDPAction.ALL:
        return True
    listed = name in (spec.fields or [])
    return listed if spec.action == FieldMDPAction.INCLUDE else not listed


def _field_changes(check: SignatureCheck, signed: dict[str, FormField], final: dict[str, FormField],
                   in_force: MDPPerm | None, locks: list[FieldMDPSpec]) -> None:
    """Name every form field whose value differs from the signed revision; fail unless the policy allows it.

    Filling a form after signing is allowed only when the document's certification
    permits form filling (DocMDP level 2 or 3) and no signature so far locked the field.
    Signature fields are left to the signature checks.
    """
    for name in sorted(set(signed) | set(final)):
        before, after = signed.get(name), final.get(name)
        if (before and before.kind == "/Sig") or (after and after.kind == "/Sig"):
            continue
        old, new = (before.value if before else None), (after.value if after else None)
        if before is not None and after is not None and old == new:
            continue
        what = ("added" if before is None else "removed" if after is None else "changed")
        locked = any(_is_locked(spec, name) for spec in locks)
        allowed = in_force is not None and in_force >= MDPPerm.FILL_FORMS and not locked and after is not None
        check.field_changes.append({"field": name, "old": old, "new": new, "change": what, "allowed": allowed})
        if not allowed:
            why = ("the field is locked by a signature" if locked else
                   "the document's certification allows no form filling" if in_force is not None else
                   "the document is not certified for form filling")
            check.problems.append(f"form field {name!r} {what} after this signature: {old!r} \u2192 {new!r} ({why})")


def evidence_of(embedded: Any) -> tuple[Container | None, str | None]:
    """The escrow container carried by an embedded signature, or why there is none."""
    try:
        for attr in embedded.signer_info["signed_attrs"]:
            if attr["type"].dotted == EVIDENCE_OID:
                return Container.from_bytes(bytes(attr["values"][0].native)), None
    except EvidenceError as exc:
        return None, f"biometric container is damaged: {exc}"
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return None, f"biometric container cannot be read: {exc}"
    return None, "the signature carries no biometric container"


def _expiry_problems(status: Any, at: dt.datetime, level: str = "B-T") -> list[str]:
    """Name an expired or not-yet-valid signing or TSA certificate at the validation time."""
    why = ("no document time-stamp still trusted at that time covers it (renew the evidence with "
           "'inkwitness pdf extend' before the newest time-stamp's TSA certificate expires)" if level == "B-LTA"
           else "this document carries no long-term validation data (PAdES B-LT/B-LTA) to show it was valid "
           "when signed")
    out = []
    certs = [("signing", status.signing_cert)]
    if status.timestamp_validity is not None:
        certs.append(("time-stamping authority", status.timestamp_validity.signing_cert))
    for what, cert in certs:
        if cert is None:
            continue
        start, end = cert["tbs_certificate"]["validity"]["not_before"].native, \
            cert["tbs_certificate"]["validity"]["not_after"].native
        if at > end:
            out.append(f"the {what} certificate expired on {end.isoformat()} (validated at {at.isoformat()}); "
                       + why)
        elif at < start:
            out.append(f"the {what} certificate is not valid until {start.isoformat()} "
                       f"(validated at {at.isoformat()}, before it was issued)")
    return out


def verify_pdf(data: bytes, trust_roots: list[Path], at: dt.datetime | None = None) -> list[SignatureCheck]:
    """Validate every signature of a sealed PDF: PAdES, time-stamp, later changes, biometric binding.

    ``at`` validates the certificates at that time instead of now (expiry is named as such).
    """
    if at is not None and at.tzinfo is None:
        raise EvidenceError("the validation time needs a time zone")
    if len(data) > MAX_PDF_BYTES:
        raise EvidenceError(f"PDF is larger than {MAX_PDF_BYTES} bytes")
    roots = load_certs(trust_roots)
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded = list(reader.embedded_signatures)
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise EvidenceError(f"PDF structure is damaged: {exc}") from exc
    if not embedded:
        raise EvidenceError("the PDF carries no signature")
    try:
        final_fields = _form_fields(reader.root)
        in_force = _docmdp_in_force(reader)
    except (PdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EvidenceError(f"PDF form structure is damaged: {exc}") from exc
    try:
        dss_crls, dss_ocsps = _dss_revinfo(reader)
    except (PdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EvidenceError(f"the document security store (DSS) is damaged: {exc}") from exc
    doc_stamps = [e for e in embedded if e.sig_object_type == "/DocTimeStamp"]
    ltv = _document_timestamps(doc_stamps, roots, dss_crls, dss_ocsps, at)
    embedded = [e for e in embedded if e.sig_object_type != "/DocTimeStamp"]
    if not embedded:
        raise EvidenceError("the PDF carries no signature (only document time-stamps)")
    # With revocation data in the DSS, revocation is checked strictly against it (B-LT).
    revocation = ({"crls": dss_crls, "ocsps": dss_ocsps, "revocation_mode": "hard-fail"}
                  if dss_crls or dss_ocsps else {})
    checks = []
    locks: list[FieldMDPSpec] = []
    policy_locked = False
    for emb in sorted(embedded, key=lambda e: e.signed_revision):
        check = SignatureCheck(field=str(emb.field_name), ltv=ltv)
        try:
            if emb.fieldmdp is not None:
                locks.append(emb.fieldmdp)
            sealed_with, _ = evidence_of(emb)
            policy_locked |= sealed_with is not None and sealed_with.header.get("extra", {}).get(
                "form_policy", "locked") == "locked"
            if policy_locked:
                locks.append(FieldMDPSpec(FieldMDPAction.ALL))
            certified = _certification_level(emb)
            check.certification = certified.name if certified is not None else None
            _field_changes(check, _form_fields(reader.get_historical_root(emb.signed_revision)), final_fields,
                           in_force, locks)
        except Exception as exc:  # noqa: BLE001 - damaged form structures raise many types
            check.problems.append(f"form fields cannot be compared with the signed revision: {exc}")
        try:
            status = validate_pdf_signature(
                emb, signer_validation_context=ValidationContext(trust_roots=roots, allow_fetching=False, moment=at,
                                                                 **revocation),
                ts_validation_context=ValidationContext(trust_roots=roots, allow_fetching=False, moment=at,
                                                        **revocation))
        except Exception as exc:  # noqa: BLE001 - pyHanko raises many types on damaged input
            # Name the time-stamp token when it is the part that is broken: it sits in the
            # unsigned attributes, outside what the signature and the document digest cover.
            check.problems.append(_timestamp_token_problem(emb, roots)
                                  or f"signature cannot be validated: {type(exc).__name__}: {exc}")
            checks.append(check)
            continue
        check.intact, check.valid, check.trusted = bool(status.intact), bool(status.valid), bool(status.trusted)
        check.signer = status.signing_cert.subject.human_friendly if status.signing_cert else None
        check.signing_time = status.signer_reported_dt.isoformat() if status.signer_reported_dt else None
        ts = status.timestamp_validity
        if ts is not None:
            check.timestamp = {"time": ts.timestamp.isoformat(), "intact": bool(ts.intact), "valid": bool(ts.valid),
                               "trusted": bool(ts.trusted)}
            if not (ts.intact and ts.valid):
                check.problems.append("the signature time-stamp token is damaged or altered (it does not verify)")
            elif not ts.trusted and not _expiry_problems(status, at or dt.datetime.now(dt.timezone.utc)):
                check.problems.append("the time-stamping authority is not trusted")
        else:
            check.problems.append("no signature time-stamp (not PAdES B-T)")
        check.coverage = status.coverage.name if status.coverage else ""
        check.modified_after = status.coverage.name != "ENTIRE_FILE" if status.coverage else None
        level = status.modification_level
        check.modification_level = level.name if level is not None else None
        if level is not None and level.name not in ("NONE", "LTA_UPDATES", "FORM_FILLING"):
            check.problems.append(f"the document was changed after this signature ({level.name})")
        if not check.intact:
            check.problems.append("signed bytes were altered (digest mismatch)")
        elif not check.valid:
            check.problems.append("the cryptographic signature does not verify")
        for stamp in ltv["document_timestamps"]:
            if not (stamp.get("intact") and stamp.get("valid")):
                check.problems.append("a document time-stamp does not verify (damaged or altered): "
                                      + stamp.get("error", "digest or signature mismatch"))
        moment = at or dt.datetime.now(dt.timezone.utc)
        revoked = _revocation_problems(status, dss_crls, dss_ocsps, moment)
        expiry = _expiry_problems(status, moment, ltv["level"])
        # Expired certificates, or revocation data that was fresh when sealing and is stale
        # by now (OCSP answers live a day, CRLs a month), both leave the signature untrusted
        # at the validation time: long-term validation then decides.
        if ((expiry or (check.intact and not check.trusted)) and not revoked
                and _valid_at_signing_time(emb, status, ltv, roots, dss_crls, dss_ocsps)):
            # B-LTA: a document time-stamp still valid now proves the signature, its
            # time-stamp and the DSS existed then, and they validate at the signing time.
            expiry, check.trusted = [], True
            if check.timestamp is not None:
                check.timestamp["trusted"] = True
            ltv["validated_at_signing_time"] = status.timestamp_validity.timestamp.isoformat()
            check.problems = [p for p in check.problems if p != "the time-stamping authority is not trusted"]
        check.problems.extend(revoked + expiry)
        if check.intact and not check.trusted and not expiry and not revoked:
            check.problems.append("the signing certificate does not chain to a trusted root")
        check.problems.extend(_unprotected_fields_problems(emb))
        if not _contents_padding_ok(data, list(emb.byte_range)):
            check.problems.append("the signature's /Contents (or its padding) was altered")
        container, problem = evidence_of(emb)
        bio: dict[str, Any] = {"present": container is not None, "bound": False}
        if container is None and str(emb.field_name).startswith(SEAL_FIELD_PREFIX):
            # The organisation's approval of an event-certificate signature: no handwriting.
            check.role, problem = ORGANISATION_SEAL, None
        check.certificate = _certificate_report(emb.signer_cert)
        if container is not None:
            length = container.header.get("extra", {}).get("document_length")
            bio.update(document_sha256=container.document_sha256, signature_sha256=container.signature_sha256,
                       escrow_key_id=container.key_id, container_sha256=container.sha256)
            if not isinstance(length, int) or not 0 < length <= emb.byte_range[1]:
                problem = "biometric container names a document length outside the signed revision"
            elif hashlib.sha256(data[:length]).hexdigest() != container.document_sha256:
                problem = "biometric container is not bound to this document (hash mismatch)"
            else:
                bio["bound"] = True
        if problem:
            check.problems.append(problem)
        elif not bio["bound"] and check.role != ORGANISATION_SEAL:
            check.problems.append("biometric container is not bound to this document")
        check.biometric = bio
        _check_event_binding(check, emb, data, container)
        checks.append(check)
    return checks


ORGANISATION_SEAL = "organisation seal"


def _certificate_report(cert: asn1_x509.Certificate) -> dict[str, Any]:
    """Who the signer certificate names and who issued it."""
    return {"subject": cert.subject.human_friendly, "serial": f"{cert.serial_number:x}",
            "issuer": cert.issuer.human_friendly}


def _previous_revision_length(data: bytes, emb: Any) -> int:
    """Where the revision before this signature's incremental update ends (after its %%EOF line)."""
    end = data.rfind(b"%%EOF", 0, emb.byte_range[1])
    if end < 0:
        return 0
    end += 5
    while end < len(data) and data[end:end + 1] in (b"\r", b"\n"):
        end += 1
    return end


def _check_event_binding(check: SignatureCheck, emb: Any, data: bytes, container: Container | None) -> None:
    """An event certificate must be bound to the document its signature signed, i.e. the revision before it.

    That prefix is the one the escrow container is bound to (``document_length``, signed
    in the same signature); without a container, the revision before this signature's update.
    """
    from .event_certificate import bound_document_hash, subject_id_of

    try:
        bound = bound_document_hash(emb.signer_cert)
    except EvidenceError as exc:
        check.problems.append(str(exc))
        return
    if bound is None:
        return
    length = container.header.get("extra", {}).get("document_length") if container is not None else None
    if not isinstance(length, int) or not 0 < length <= emb.byte_range[1]:
        length = _previous_revision_length(data, emb)
    signed = hashlib.sha256(data[:length]).hexdigest()
    check.certificate["event"] = {"document_sha256": bound, "subject_id": subject_id_of(emb.signer_cert),
                                  "signed_document_sha256": signed, "matches": bound == signed}
    if bound != signed:
        check.problems.append(f"the event certificate is bound to another document (SHA-256 {bound}), not to the "
                              f"revision this signature signed (SHA-256 {signed}): it was not issued for this "
                              "signing")


# --- renewal: pdf extend ------------------------------------------------------------------

def _sealed_reader(data: bytes) -> tuple[PdfFileReader, list[Any]]:
    """A reader over a sealed PDF and its embedded signatures (document time-stamps included)."""
    if len(data) > MAX_PDF_BYTES:
        raise EvidenceError(f"PDF is larger than {MAX_PDF_BYTES} bytes")
    if not data.lstrip()[:5] == b"%PDF-":
        raise EvidenceError("input is not a PDF (no %PDF- header)")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded = list(reader.embedded_signatures)
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise EvidenceError(f"input is not a readable PDF: {exc}") from exc
    if not [e for e in embedded if e.sig_object_type != "/DocTimeStamp"]:
        raise EvidenceError("the PDF carries no signature: there is no evidence to extend")
    return reader, embedded


def _evidence_certs(embedded: list[Any]) -> list[asn1_x509.Certificate]:
    """The certificates the evidence rests on: each signer's and each time-stamp token's signer."""
    from pyhanko.sign.general import extract_certificate_info

    out = []
    for emb in embedded:
        out.append(emb.signer_cert)
        attrs = emb.signer_info["unsigned_attrs"]
        for attr in attrs if attrs else []:
            if attr["type"].native == "signature_time_stamp_token":
                out.append(extract_certificate_info(attr["values"][0]["content"]).signer_cert)
    return out


def _in_force(cert: asn1_x509.Certificate, now: dt.datetime) -> bool:
    validity = cert["tbs_certificate"]["validity"]
    return validity["not_before"].native <= now <= validity["not_after"].native


def extend_pdf(data: bytes, trust_roots: list[Path], tsa_url: str, crls: Sequence[Path] = (),
               ocsp: bool = True) -> bytes:
    """Renew a sealed PDF's long-term evidence: fresh revocation data in the DSS and a new document time-stamp.

    Run it before the newest document time-stamp's TSA certificate expires (PAdES B-LTA
    renewal). Fresh OCSP answers are fetched for every certificate of the evidence still in
    force (``ocsp``), ``crls`` are embedded as given; the newest document time-stamp must
    still validate now, strictly against that data. A certificate the fresh data says was
    revoked refuses the extension.
    """
    from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    roots = load_certs(trust_roots)
    reader, embedded = _sealed_reader(data)
    now = dt.datetime.now(dt.timezone.utc)
    try:
        pool = [*roots, *_dss_certs(reader), *(c for e in embedded for c in e.other_embedded_certs)]
        live = [c for c in _evidence_certs(embedded) if _in_force(c, now)]
    except (PdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EvidenceError(f"the signatures or the DSS cannot be read: {exc}") from exc
    # The new time-stamp's TSA may differ from the old one: learn its certificate first,
    # so that its revocation data can be fetched and embedded too.
    _, token = _tsa_time(tsa_url, hashlib.sha256(data).digest())
    new_tsa = _token_certs(token)
    given_crls = load_crls(list(crls))
    try:
        # Only certificates that chain to the trust roots have their OCSP URLs fetched.
        ocsps = fresh_ocsp([*live, *new_tsa], [*pool, *new_tsa], roots) if ocsp else []
    except EvidenceError as exc:
        raise EvidenceError(f"cannot extend: {exc}") from exc
    for cert in live:
        found = _revoked_in(cert, given_crls, [])
        if found is not None:
            raise EvidenceError(f"cannot extend: the certificate {_describe(cert)} was revoked on "
                                f"{found[0].isoformat()}, says the CRL")
    context = ValidationContext(trust_roots=roots, crls=given_crls, ocsps=ocsps, allow_fetching=False,
                                revocation_mode="hard-fail")
    stamper = PdfTimeStamper(timestamps.HTTPTimeStamper(tsa_url))
    out = io.BytesIO(data)
    try:
        if not reader.embedded_timestamp_signatures:
            # A B-T seal: pyHanko would write the DSS after the first document time-stamp,
            # outside it; write it first, so that the time-stamp covers it.
            DocumentSecurityStore.add_dss(out, None, ocsps=ocsps, crls=given_crls, force_write=True, strict=False)
        # Validates the newest document time-stamp now, writes the context's revocation data
        # (the fresh OCSP answers and CRLs for all certificates) to the DSS, then time-stamps.
        stamper.update_archival_timestamp_chain(PdfFileReader(out, strict=False), context, in_place=True)
    except Exception as exc:  # noqa: BLE001 - pyHanko and the certificate validator raise many types
        cause = exc.__cause__ or exc
        raise EvidenceError("cannot extend: the newest time-stamp or the new TSA does not validate now with "
                            f"fresh revocation data ({type(cause).__name__}: {str(cause)[:200]}); start the "
                            "OCSP responder or pass a fresh CRL") from exc
    return out.getvalue()
