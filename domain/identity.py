"""Bearer tokens (SPEC.md §2): HS256 JWTs with `sub`, `role`, `company`, `name`, `exp`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, cast

import jwt

from domain.ids import MAX_ID_LENGTH

Role = Literal["admin", "agent", "user", "service"]
ROLES: tuple[Role, ...] = ("admin", "agent", "user", "service")


class TokenError(ValueError):
    """The token cannot be accepted; the message says why, for the caller."""


@dataclass(frozen=True, slots=True)
class Identity:
    sub: str
    role: Role
    company: str | None = None
    name: str | None = None

    @property
    def is_person(self) -> bool:
        """A `service` token stands for the host application: no user row, never online."""
        return self.role != "service"


class TokenCodec:
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def encode(
        self,
        sub: str,
        role: Role,
        company: str | None = None,
        name: str | None = None,
        ttl: float = 3600,
        now: float | None = None,
    ) -> str:
        if role not in ROLES:
            raise TokenError(f"role must be one of {', '.join(ROLES)}")
        issued = int(time.time() if now is None else now)
        claims: dict[str, object] = {"sub": sub, "role": role, "iat": issued, "exp": issued + int(ttl)}
        if company:
            claims["company"] = company
        if name:
            claims["name"] = name
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def encode_valid(
        self, sub: str, role: Role, company: str | None = None, name: str | None = None, ttl: float = 3600
    ) -> str:
        """`encode`, refusing what `decode` would refuse (for operators: no token that cannot work)."""
        if not sub or len(sub) > MAX_ID_LENGTH:
            raise TokenError(f"sub must be 1 to {MAX_ID_LENGTH} characters")
        if role in ("agent", "user") and not company:
            raise TokenError(f"an {role} token needs a company (--company)")
        if ttl <= 0:
            raise TokenError("ttl must be a positive number of seconds")
        return self.encode(sub, role, company, name, ttl)

    def decode(self, token: str) -> Identity:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                # Our own check of `sub` below says what is wrong in our words.
                options={"require": ["sub", "exp"], "verify_sub": False},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("The token has expired") from None
        except jwt.InvalidSignatureError:
            raise TokenError("The token's signature is not valid") from None
        except jwt.MissingRequiredClaimError as e:
            raise TokenError(f"The token has no {e.claim!r} claim") from None
        except jwt.InvalidTokenError as e:
            raise TokenError(f"The token is malformed ({e})") from None
        sub, role = claims.get("sub"), claims.get("role")
        company, name = claims.get("company"), claims.get("name")
        if not isinstance(sub, str) or not sub or len(sub) > MAX_ID_LENGTH:
            raise TokenError(f"The token's 'sub' must be a non-empty string of at most {MAX_ID_LENGTH} characters")
        if role not in ROLES:
            raise TokenError(f"The token's 'role' must be one of {', '.join(ROLES)}")
        if company is not None and (not isinstance(company, str) or len(company) > MAX_ID_LENGTH):
            raise TokenError("The token's 'company' must be a string")
        if name is not None and not isinstance(name, str):
            raise TokenError("The token's 'name' must be a string")
        if role in ("agent", "user") and not company:
            raise TokenError(f"The token has role {role} but no 'company' claim (tenant id)")
        return Identity(sub=sub, role=cast(Role, role), company=company or None, name=(name or None))
