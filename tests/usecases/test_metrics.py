"""What the use cases count for operators: imports by outcome and by rejection code (each
code once per import), status changes (``none`` for a request just opened), publication
build time and size (an empty week has no size). The counters are process-wide, so each
test reads them before and after."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from hws.usecases import metrics

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def value(name: str, **labels: str) -> float:
    found = REGISTRY.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_both_import_outcomes_exist_from_the_start() -> None:
    for outcome in (metrics.IMPORTED, metrics.REJECTED):
        assert REGISTRY.get_sample_value("hws_imports_total", {"outcome": outcome}) is not None


def test_an_imported_package_counts_one_import_and_no_rejection() -> None:
    imported, rejected = value("hws_imports_total", outcome="imported"), value("hws_imports_total", outcome="rejected")
    before = value("hws_import_rejections_total", code="xml-not-well-formed")
    metrics.import_finished(metrics.IMPORTED)
    assert value("hws_imports_total", outcome="imported") == imported + 1
    assert value("hws_imports_total", outcome="rejected") == rejected
    assert value("hws_import_rejections_total", code="xml-not-well-formed") == before


def test_a_rejected_package_counts_each_of_its_codes_once() -> None:
    codes = ("xml-not-well-formed", "zip-entry-too-large")
    rejected = value("hws_imports_total", outcome="rejected")
    before = {code: value("hws_import_rejections_total", code=code) for code in codes}
    metrics.import_finished(metrics.REJECTED, iter(["zip-entry-too-large", "xml-not-well-formed", "zip-entry-too-large"]))
    assert value("hws_imports_total", outcome="rejected") == rejected + 1
    assert {code: value("hws_import_rejections_total", code=code) - before[code] for code in codes} == {
        "xml-not-well-formed": 1,
        "zip-entry-too-large": 1,
    }


def test_a_rejection_without_codes_counts_the_import_only() -> None:
    total = sum(s.value for m in REGISTRY.collect() if m.name == "hws_import_rejections" for s in m.samples)
    metrics.import_finished(metrics.REJECTED)
    after = sum(s.value for m in REGISTRY.collect() if m.name == "hws_import_rejections" for s in m.samples)
    assert after == total


@pytest.mark.parametrize(("source", "label"), [(None, "none"), ("", "none"), ("Processing", "Processing")])
def test_status_changes_by_from_and_to(source: str | None, label: str) -> None:
    before = value("hws_service_request_transitions_total", **{"from": label, "to": "Registered"})
    other = value("hws_service_request_transitions_total", **{"from": label, "to": "Cancelled"})
    metrics.status_changed(source, "Registered")
    assert value("hws_service_request_transitions_total", **{"from": label, "to": "Registered"}) == before + 1
    assert value("hws_service_request_transitions_total", **{"from": label, "to": "Cancelled"}) == other


def test_a_request_opened_by_an_import_is_from_none() -> None:
    assert metrics.OPENED == "none"
    before = value("hws_service_request_transitions_total", **{"from": "none", "to": "Undefined"})
    metrics.status_changed(None, "Undefined")
    assert value("hws_service_request_transitions_total", **{"from": "none", "to": "Undefined"}) == before + 1
    assert REGISTRY.get_sample_value("hws_service_request_transitions_total", {"from": "None", "to": "Undefined"}) is None


def test_a_publication_observes_its_build_time_and_size() -> None:
    kind = "bulletin"
    count, total = value("hws_publication_build_seconds_count", kind=kind), value("hws_publication_build_seconds_sum", kind=kind)
    sizes = value("hws_publication_size_bytes_count", kind=kind)
    small = value("hws_publication_size_bytes_bucket", kind=kind, le="4096.0")
    fits = value("hws_publication_size_bytes_bucket", kind=kind, le="16384.0")
    metrics.publication_built(kind, 0.3, 5000)
    assert value("hws_publication_build_seconds_count", kind=kind) == count + 1
    assert value("hws_publication_build_seconds_sum", kind=kind) == pytest.approx(total + 0.3)
    assert value("hws_publication_size_bytes_count", kind=kind) == sizes + 1
    assert value("hws_publication_size_bytes_bucket", kind=kind, le="4096.0") == small  # 5000 bytes: above 4 KiB
    assert value("hws_publication_size_bytes_bucket", kind=kind, le="16384.0") == fits + 1  # within 16 KiB


def test_an_empty_week_has_a_build_time_and_no_size() -> None:
    kind = "confidential"
    count, sizes = value("hws_publication_build_seconds_count", kind=kind), value("hws_publication_size_bytes_count", kind=kind)
    metrics.publication_built(kind, 0.01, None)
    assert value("hws_publication_build_seconds_count", kind=kind) == count + 1
    assert value("hws_publication_size_bytes_count", kind=kind) == sizes


def size_bounds() -> list[float]:
    return [b for b in metrics.PUBLICATION_SIZE._upper_bounds if b != float("inf")]


def test_size_buckets_start_at_1_kib_and_grow_four_times() -> None:
    bounds = size_bounds()
    assert bounds[0] == 1024
    assert all(b == a * 4 for a, b in itertools.pairwise(bounds))
    assert bounds[-1] >= 16 * 2**30


def test_the_largest_size_bucket_is_the_documented_16_gib() -> None:
    assert "1 KiB … 16 GiB" in DOCS.read_text("utf-8")
    assert size_bounds()[-1] == 16 * 2**30


def test_every_metric_is_documented() -> None:
    documented = set(re.findall(r"^\| `(hws_[a-z_]+)` \|", DOCS.read_text("utf-8"), re.MULTILINE))
    ours = {
        "hws_imports_total",
        "hws_import_rejections_total",
        "hws_service_request_transitions_total",
        "hws_publication_build_seconds",
        "hws_publication_size_bytes",
    }
    registered = {
        m._name + ("_total" if isinstance(m, type(metrics.IMPORTS)) else "")
        for m in (
            metrics.IMPORTS,
            metrics.IMPORT_REJECTIONS,
            metrics.TRANSITIONS,
            metrics.PUBLICATION_BUILD,
            metrics.PUBLICATION_SIZE,
        )
    }
    assert registered == ours
    assert ours <= documented
