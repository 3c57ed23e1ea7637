"""Query planning is pure: tables of inputs and the plans they must give."""

import pytest

from harvester.batching import OwnerPage, build_scan_query, pack_pages, page_units, size_first
from harvester.runs import plan_batches


class TestSizeFirst:
    @pytest.mark.parametrize(
        ("count", "first"), [(0, 0), (1, 1), (7, 7), (99, 99), (100, 100), (250, 100)]
    )
    def test_first_is_what_the_last_scan_saw(self, count: int, first: int) -> None:
        assert size_first(count) == first

    def test_uncounted_owner_is_refused(self) -> None:
        with pytest.raises(ValueError, match="count pass"):
            size_first(None)


class TestPageUnits:
    @pytest.mark.parametrize(("first", "units"), [(0, 1), (1, 2), (7, 8), (100, 101)])
    def test_repositories_plus_one_watchers_connection_per_repository(
        self, first: int, units: int
    ) -> None:
        assert page_units(OwnerPage(1, "U", first)) == units


class TestPackPages:
    def test_every_page_lands_in_exactly_one_query(self) -> None:
        pages = [OwnerPage(i, f"U_{i}", (i * 37) % 101) for i in range(500)]
        groups = pack_pages(pages, max_points=20)
        flat = [p for g in groups for p in g]
        assert sorted(flat, key=lambda p: p.owner_id) == pages

    def test_queries_stay_under_the_point_budget_after_rounding(self) -> None:
        pages = [OwnerPage(i, f"U_{i}", (i * 37) % 101) for i in range(500)]
        for group in pack_pages(pages, max_points=20):
            assert build_scan_query(group).estimated_points <= 20

    def test_packing_fills_queries(self) -> None:
        pages = [OwnerPage(i, f"U_{i}", 9) for i in range(1000)]  # 10 units each
        groups = pack_pages(pages, max_points=10, max_aliases=1000)
        # capacity 1049 units: 104 pages (1040 units, 10 points) per query.
        assert [len(g) for g in groups[:-1]] == [104] * (len(groups) - 1)

    def test_alias_cap(self) -> None:
        pages = [OwnerPage(i, f"U_{i}", 0) for i in range(250)]
        assert [len(g) for g in pack_pages(pages, max_points=50, max_aliases=100)] == [
            100,
            100,
            50,
        ]

    def test_a_page_bigger_than_the_budget_gets_a_query_of_its_own(self) -> None:
        groups = pack_pages([OwnerPage(1, "U", 100), OwnerPage(2, "V", 100)], max_points=1)
        assert [len(g) for g in groups] == [1, 1]


class TestPlanBatches:
    def test_batches_cut_at_the_point_budget_in_id_order(self) -> None:
        owners = [(1, 99), (2, 99), (3, 99), (4, None), (5, 0)]
        # 100 units each, a never-counted owner is planned as one full page (101).
        assert plan_batches(owners, max_points=2) == [[1, 2], [3], [4, 5]]

    def test_no_owners_no_batches(self) -> None:
        assert plan_batches([], max_points=10) == []
