"""Password hashing with Argon2id (memory-hard), parameters from config.yaml."""
from __future__ import annotations

import logging

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
"""Shortest password accepted for a user account."""


def make_hasher(auth_settings) -> PasswordHasher:
    return PasswordHasher(time_cost=auth_settings.password_time_cost,
                          memory_cost=auth_settings.password_memory_cost,
                          parallelism=auth_settings.password_parallelism)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")


def verify_password(hasher: PasswordHasher, stored_hash: str, password: str) -> bool:
    try:
        return hasher.verify(stored_hash, password)
    except VerificationError:
        return False
    except InvalidHashError:
        log.error("a stored password hash is not an Argon2 hash: the account cannot log in until reset")
        return False
