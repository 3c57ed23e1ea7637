"""Realistic populations for benchmarks: repository counts per owner are heavy-tailed.

Real tracked sets look like this: most accounts own a handful of repositories, a few
organizations own thousands.  A harvester that sizes ``first`` per owner, batches small
owners together and pages big ones has to cope with both ends, so benchmarks must not
use a uniform population.
"""

from __future__ import annotations

from .world import World


def heavy_tailed_population(
    n_owners: int,
    seed: int,
    total_repos: int | None = None,
    *,
    org_fraction: float = 0.3,
    private_fraction: float = 0.1,
    collaborator_fraction: float = 0.2,
    max_repos_per_owner: int = 20_000,
) -> World:
    """A seeded world of ``n_owners`` with about ``total_repos`` public repositories.

    Sizes are Pareto distributed (alpha 1.1) and scaled to the requested total, so the
    median owner has a few repositories and the largest have thousands.  Organizations
    are drawn with ``org_fraction``; on top of the public ones about ``private_fraction``
    extra private repositories exist, and some users collaborate on others' repositories.
    Logins are ``user-00001`` / ``org-00002`` (index-numbered, so they are unique).
    """
    world = World(seed)
    rng = world.rng
    target = total_repos if total_repos is not None else n_owners * 20
    weights = [rng.paretovariate(1.1) - 1.0 for _ in range(n_owners)]
    scale = target / sum(weights) if n_owners and sum(weights) > 0 else 0.0
    sizes = [min(max_repos_per_owner, int(w * scale + rng.random())) for w in weights]
    for i, size in enumerate(sizes, start=1):
        is_org = rng.random() < org_fraction
        login = f"{'org' if is_org else 'user'}-{i:05d}"
        name = None if rng.random() < 0.3 else login.replace("-", " ").title()
        private = sum(rng.random() < private_fraction for _ in range(size))
        if is_org:
            world.add_org(login, name=name, repos=size, private_repos=private)
        else:
            world.add_user(login, name=name, repos=size, private_repos=private)
    world.sprinkle_collaborations(collaborator_fraction)
    return world
