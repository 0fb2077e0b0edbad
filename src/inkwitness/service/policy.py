"""Who may do what: the one place the service's authorisation rules live.

Two kinds of credential exist. A *platform* key belongs to no tenant: it onboards tenants
(and may mint their first keys) but reads no tenant data. A *tenant* key belongs to one
tenant and carries one or more of ``admin`` (manages the tenant's keys; implies the other
two), ``operator`` (subjects, enrolment, reports, sessions, documents) and ``capture``
(submits signatures for verification and learns only the decision).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InkwitnessError

PLATFORM, ADMIN, OPERATOR, CAPTURE = "platform", "admin", "operator", "capture"
TENANT_SCOPES = (ADMIN, OPERATOR, CAPTURE)
ALL_SCOPES = (PLATFORM, *TENANT_SCOPES)

#: Action -> scopes that grant it. Tenant actions additionally need a tenant-bound key.
ACTIONS: dict[str, frozenset[str]] = {
    "tenant.create": frozenset({PLATFORM}),
    "key.manage": frozenset({PLATFORM, ADMIN}),
    "subject.manage": frozenset({ADMIN, OPERATOR}),
    "subject.enrol": frozenset({ADMIN, OPERATOR}),
    # Approving another key's re-enrolment that did not verify against the current template.
    "enrolment.approve": frozenset({ADMIN, OPERATOR}),
    "subject.verify": frozenset({ADMIN, OPERATOR, CAPTURE}),
    "verification.details": frozenset({ADMIN, OPERATOR}),
    "subject.history": frozenset({ADMIN, OPERATOR}),
    "subject.report": frozenset({ADMIN, OPERATOR}),
    "session.manage": frozenset({ADMIN, OPERATOR}),
    "document.manage": frozenset({ADMIN, OPERATOR}),
    "evidence.read": frozenset({ADMIN, OPERATOR}),
    # Sealing handwriting that failed verification against the subject (with the verdict recorded).
    "document.seal_unverified": frozenset({ADMIN, OPERATOR}),
    # Enrolling a finger (sensitive personal information under PIPL art. 28) and pressing one at signing.
    "finger.enrol": frozenset({ADMIN, OPERATOR}),
    "finger.press": frozenset({ADMIN, OPERATOR}),
    "log.read": frozenset(ALL_SCOPES),
}
#: Actions a platform key may take although it belongs to no tenant.
PLATFORM_ACTIONS = frozenset({"tenant.create", "key.manage", "log.read"})


class Forbidden(InkwitnessError):
    """The caller's key may not do this (403)."""


@dataclass(frozen=True)
class Caller:
    """An authenticated API key: its id, its tenant (None for platform keys) and its scopes."""

    key_id: str
    tenant_id: str | None
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_platform(self) -> bool:
        """Whether this is a platform-operator key."""
        return PLATFORM in self.scopes and self.tenant_id is None


def allowed(who: Caller, action: str) -> bool:
    """Whether ``who`` may take ``action``."""
    if not who.scopes & ACTIONS[action]:
        return False
    if who.tenant_id is None:
        return action in PLATFORM_ACTIONS and who.is_platform
    # A tenant key never gains platform rights, even if a scope string says so.
    return action != "tenant.create"


def authorize(who: Caller, action: str) -> Caller:
    """Return ``who`` if it may take ``action``, else raise Forbidden."""
    if not allowed(who, action):
        needed = " or ".join(sorted(ACTIONS[action]))
        raise Forbidden(f"this key may not do this ({action}; needs the {needed} scope)")
    return who


def key_tenant(who: Caller, requested: str | None) -> str:
    """The tenant a new key will belong to: a tenant admin only ever mints keys for its own tenant."""
    authorize(who, "key.manage")
    if who.is_platform:
        if not requested:
            raise Forbidden("a platform key must name the tenant_id of the key to create")
        return requested
    if who.tenant_id is None or (requested and requested != who.tenant_id):
        raise Forbidden("a tenant admin may manage keys of its own tenant only")
    return who.tenant_id


def keys_visible(who: Caller, requested: str | None) -> str | None:
    """Whose keys ``who`` may list or revoke: a tenant admin its own; the platform any tenant's, or its own (None)."""
    authorize(who, "key.manage")
    if who.is_platform:
        return requested
    if requested and requested != who.tenant_id:
        raise Forbidden("a tenant admin may manage keys of its own tenant only")
    return who.tenant_id


def may_grant(who: Caller, scopes: list[str]) -> None:
    """Refuse to mint a key with rights its creator does not hold (platform keys only by CLI)."""
    if PLATFORM in scopes:
        raise Forbidden("platform keys are created with the command line only")
    if not who.is_platform and ADMIN not in who.scopes:
        raise Forbidden("only an admin key may create keys")


def sees_details(who: Caller) -> bool:
    """Whether verification scores, components and reasons may be shown (not to capture-only keys)."""
    return allowed(who, "verification.details")


def may_seal_mismatch(who: Caller, on_mismatch: str) -> None:
    """Refuse ``on_mismatch=record`` (seal handwriting that failed verification) to keys without that right."""
    if on_mismatch == "record":
        authorize(who, "document.seal_unverified")


def may_read_entry(who: Caller, entry_tenant: object) -> bool:
    """Whether ``who`` may see a log entry's event: a tenant's entries to that tenant's evidence readers only;
    entries of no tenant to any log reader."""
    if entry_tenant is None:
        return allowed(who, "log.read")
    return who.tenant_id is not None and entry_tenant == who.tenant_id and allowed(who, "evidence.read")


def may_press_finger(who: Caller, pressed: bool) -> None:
    """Refuse a finger-press at signing to keys without that right (a press without one is not asked about)."""
    if pressed:
        authorize(who, "finger.press")
