"""Which tests judge a mutant in ``make mutants`` (tests/conftest.py::mutant_judges, docs/testing.md)."""

from __future__ import annotations

from tests.conftest import PASS_THROUGH, mutant_judges

MATRIX = [f"tests/security/test_authz_matrix.py::test_authorization_matrix[{n}]" for n in range(PASS_THROUGH)]
OWN = ["tests/agency/test_idempotency.py::test_a_repeat_replays", "tests/agency/test_form_keys.py::test_a_form_once"]
OTHER = ["tests/jobs/test_pages.py::test_order_page", "tests/billing/test_quotes.py::test_accept"]


def test_outside_mutmut_and_for_its_own_passes_every_test_runs():
    everything = MATRIX + OWN + OTHER
    for name in ("", "stats", "fail", "agency.idempotency.x__person"):
        assert mutant_judges(name, everything) == everything


def test_the_matrix_judges_the_permission_modules_and_tenancy_only():
    everything = MATRIX + OTHER
    for mutant in ("jobs.permissions.x_can_schedule__mutmut_3", "clients.tenancy.x_scope__mutmut_12",
                   "agency.permissions.xǁActionPermissionǁ_check__mutmut_1"):
        assert mutant_judges(mutant, everything) == everything
    assert mutant_judges("billing.invoicing.x_aging__mutmut_4", everything) == OTHER


def test_a_pass_through_function_is_judged_by_its_modules_own_tests_once_it_is_reached_by_many():
    many = MATRIX[:PASS_THROUGH - len(OWN) - len(OTHER) + 1] + OWN + OTHER  # one more than PASS_THROUGH
    assert len(many) == PASS_THROUGH + 1
    assert mutant_judges("agency.idempotency.xǁIdempotencyMiddlewareǁ__call____mutmut_7", many) == OWN
    few = many[1:]  # exactly PASS_THROUGH: all of them but the matrix
    assert mutant_judges("agency.idempotency.x__page_key__mutmut_2", few) == OWN + OTHER
    # a module without its own list, or one whose own tests do not reach the function, keeps what it has
    assert mutant_judges("jobs.intake.ingest.x_process__mutmut_9", many) == OWN + OTHER
    assert mutant_judges("agency.auth.x_client_ip__mutmut_3", MATRIX + OTHER) == OTHER


def test_the_tests_that_killed_a_sibling_mutant_run_first_and_the_rest_keep_mutmuts_order():
    everything = OWN + OTHER + MATRIX[:3]
    killers = [OTHER[1], MATRIX[2], "tests/jobs/test_gone.py::test_no_longer_selected"]
    assert mutant_judges("jobs.workflow.x_order_cancel__mutmut_4", everything, killers) == [OTHER[1]] + OWN + OTHER[:1]
    assert mutant_judges("clients.tenancy.x_scope__mutmut_2", everything, killers) == (
        [OTHER[1], MATRIX[2]] + OWN + OTHER[:1] + MATRIX[:2])
    # mutmut's own passes (the first pass, the clean run, the forced failure) run as collected
    for name in ("", "stats", "fail"):
        assert mutant_judges(name, everything, killers) == everything
