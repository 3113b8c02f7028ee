"""Agent passwords: argon2id hashes, verification that never raises, rehash on new
parameters, and a check for unknown accounts that costs as much as a real one."""

from __future__ import annotations

import time

import pytest
from argon2 import PasswordHasher

from threadline.passwords import hash_password, needs_rehash, verify_password


def test_hash_is_argon2id_salted_and_verifiable() -> None:
    first = hash_password("correct horse battery")
    second = hash_password("correct horse battery")
    assert first.startswith("$argon2id$")
    assert "correct horse" not in first
    assert first != second  # a fresh salt every time
    assert verify_password(first, "correct horse battery")
    assert verify_password(second, "correct horse battery")


@pytest.mark.parametrize(
    "attempt", ["", "correct horse batter", "Correct horse battery", "correct horse battery "]
)
def test_wrong_passwords_are_refused(attempt: str) -> None:
    assert not verify_password(hash_password("correct horse battery"), attempt)


def test_unicode_passwords() -> None:
    stored = hash_password("пароль-κωδικός-🙂")
    assert verify_password(stored, "пароль-κωδικός-🙂")
    assert not verify_password(stored, "пароль-κωδικος-🙂")


@pytest.mark.parametrize("stored", [None, "", "not a hash", "$argon2id$v=19$broken", "$2b$12$x"])
def test_missing_or_broken_hashes_refuse_without_raising(stored: str | None) -> None:
    assert verify_password(stored, "anything") is False
    assert verify_password(stored, "threadline-dummy-password") is False


def test_unknown_account_costs_a_real_verification() -> None:
    """No user enumeration by timing: verify(None, ...) runs argon2 on a dummy hash."""
    stored = hash_password("correct horse battery")

    def fastest(stored_hash: str | None) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            verify_password(stored_hash, "wrong password")
            times.append(time.perf_counter() - start)
        return min(times)

    real, unknown, broken = fastest(stored), fastest(None), fastest("not a hash")
    assert unknown > real / 4, (real, unknown)
    assert broken < real / 4  # a broken hash fails fast: the comparison above means something


def test_old_parameters_need_a_rehash_and_still_verify() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw-12345678")
    assert needs_rehash(weak)
    assert verify_password(weak, "pw-12345678")
    assert not needs_rehash(hash_password("pw-12345678"))
