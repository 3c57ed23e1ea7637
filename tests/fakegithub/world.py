"""The in-memory GitHub the fake server serves: owners, repositories and ground truth.

Tests build a world with this plain Python API, mutate it between (or during) scans the
way GitHub changes under a harvester (renames, deletions, transfers, repositories going
private, counts moving every day) and compare what the harvester stored against
``truth()``.  All randomness comes from one seeded RNG so a world is reproducible.

Every method takes ``self.lock``: the ASGI app executes queries while holding it, so a
test thread mutating the world never observes a half-applied change (and vice versa).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from .ids import node_id

OwnerKind = Literal["User", "Organization"]
Visibility = Literal["PUBLIC", "PRIVATE", "INTERNAL"]
Affiliation = Literal["OWNER", "COLLABORATOR", "ORGANIZATION_MEMBER"]
Truth = dict[int, tuple[int, int, int, int]]

INT32_MAX = 2**31 - 1
_ADJECTIVES = (
    "amber",
    "brisk",
    "cosmic",
    "dusty",
    "eager",
    "fuzzy",
    "gentle",
    "hollow",
    "icy",
    "jolly",
    "keen",
    "lunar",
    "mellow",
    "nimble",
    "odd",
    "plain",
    "quiet",
    "rapid",
    "solar",
    "tiny",
    "urban",
    "vivid",
    "wild",
    "young",
    "zesty",
)
_NOUNS = (
    "parser",
    "engine",
    "widget",
    "kernel",
    "toolkit",
    "plugin",
    "daemon",
    "bridge",
    "cache",
    "ledger",
    "router",
    "sandbox",
    "crawler",
    "shell",
    "compiler",
    "notes",
    "dotfiles",
    "theme",
    "bot",
    "api",
    "cli",
    "server",
    "client",
    "lib",
    "site",
)


@dataclass
class Owner:
    """A User or Organization; ``login`` and ``name`` change, ``database_id`` never."""

    database_id: int
    login: str
    name: str | None
    kind: OwnerKind
    node_id: str
    repo_ids: list[int] = field(default_factory=list)
    collaborator_repo_ids: set[int] = field(default_factory=set)
    member_of: set[int] = field(default_factory=set)


@dataclass
class Repo:
    """A repository and its three public counters."""

    database_id: int
    node_id: str
    name: str
    owner_id: int
    stargazers: int
    forks: int
    watchers: int
    is_fork: bool
    is_archived: bool
    visibility: Visibility
    created_at: datetime
    pushed_at: datetime
    updated_at: datetime

    @property
    def is_private(self) -> bool:
        """GitHub reports internal repositories as private too."""
        return self.visibility != "PUBLIC"


OwnerRef = Owner | str | int
RepoRef = Repo | str | int


class World:
    """All owners and repositories, indexed the ways the resolvers look them up."""

    def __init__(
        self,
        seed: int = 0,
        *,
        owner_id_start: int = 1_000_000,
        repo_id_start: int = 1_900_000_000,
        epoch: datetime = datetime(2012, 1, 1, tzinfo=UTC),
    ) -> None:
        self.rng = random.Random(seed)
        self.lock = threading.RLock()
        self.owners: dict[int, Owner] = {}
        self.repos: dict[int, Repo] = {}
        self.day = 0
        self._by_login: dict[str, int] = {}
        self._by_node: dict[str, Owner | Repo] = {}
        self._names: dict[int, set[str]] = {}  # owner id -> lower-cased repo names
        self._next_owner_id = owner_id_start
        self._next_repo_id = repo_id_start
        self._clock = epoch

    # -- lookups -----------------------------------------------------------------------

    def owner(self, ref: OwnerRef) -> Owner:
        """An owner by object, login (case-insensitive) or databaseId; KeyError if gone."""
        with self.lock:
            if isinstance(ref, Owner):
                return self.owners[ref.database_id]
            if isinstance(ref, str):
                return self.owners[self._by_login[ref.lower()]]
            return self.owners[ref]

    def repo(self, ref: RepoRef) -> Repo:
        """A repository by object, ``owner/name`` or databaseId; KeyError if gone."""
        with self.lock:
            if isinstance(ref, Repo):
                return self.repos[ref.database_id]
            if isinstance(ref, str):
                login, _, name = ref.partition("/")
                owner = self.owner(login)
                for repo_id in owner.repo_ids:
                    if self.repos[repo_id].name.lower() == name.lower():
                        return self.repos[repo_id]
                raise KeyError(ref)
            return self.repos[ref]

    def find_login(self, login: str) -> Owner | None:
        """The owner with this login, compared case-insensitively like GitHub does."""
        with self.lock:
            owner_id = self._by_login.get(login.lower())
            return None if owner_id is None else self.owners[owner_id]

    def find_node(self, global_id: str) -> Owner | Repo | None:
        """The object behind a global node id, or None (deleted or never existed)."""
        with self.lock:
            return self._by_node.get(global_id)

    def repositories_of(self, owner: Owner, affiliations: Iterable[str]) -> list[Repo]:
        """The repositories ``owner.repositories(ownerAffiliations:)`` ranges over."""
        with self.lock:
            wanted = set(affiliations)
            ids: set[int] = set()
            if "OWNER" in wanted:
                ids.update(owner.repo_ids)
            if "COLLABORATOR" in wanted:
                ids.update(owner.collaborator_repo_ids)
            if "ORGANIZATION_MEMBER" in wanted:
                for org_id in owner.member_of:
                    if org_id in self.owners:
                        ids.update(self.owners[org_id].repo_ids)
            return [self.repos[i] for i in ids if i in self.repos]

    # -- building ----------------------------------------------------------------------

    def add_user(
        self,
        login: str,
        *,
        name: str | None = None,
        repos: int = 0,
        private_repos: int = 0,
        database_id: int | None = None,
    ) -> Owner:
        """A user with ``repos`` public and ``private_repos`` private generated repos."""
        return self._add_owner("User", login, name, repos, private_repos, database_id)

    def add_org(
        self,
        login: str,
        *,
        name: str | None = None,
        repos: int = 0,
        private_repos: int = 0,
        database_id: int | None = None,
    ) -> Owner:
        """An organization with generated repositories (see ``add_user``)."""
        return self._add_owner("Organization", login, name, repos, private_repos, database_id)

    def _add_owner(
        self,
        kind: OwnerKind,
        login: str,
        name: str | None,
        repos: int,
        private_repos: int,
        database_id: int | None,
    ) -> Owner:
        with self.lock:
            if login.lower() in self._by_login:
                raise ValueError(f"login {login!r} is taken")
            if database_id is None:
                database_id = self._next_owner_id
                self._next_owner_id += self.rng.randint(1, 5000)
            if database_id in self.owners:
                raise ValueError(f"owner id {database_id} is taken")
            owner = Owner(database_id, login, name, kind, node_id(kind, database_id))
            self.owners[database_id] = owner
            self._by_login[login.lower()] = database_id
            self._by_node[owner.node_id] = owner
            for _ in range(repos):
                self.add_repo(owner)
            for _ in range(private_repos):
                self.add_repo(owner, private=True)
            return owner

    def add_repo(
        self,
        owner: OwnerRef,
        name: str | None = None,
        *,
        stars: int | None = None,
        forks: int | None = None,
        watchers: int | None = None,
        private: bool = False,
        internal: bool = False,
        fork: bool | None = None,
        archived: bool | None = None,
    ) -> Repo:
        """A repository; unspecified counts and flags are drawn from the seeded RNG."""
        with self.lock:
            target = self.owner(owner)
            rng = self.rng
            if self._next_repo_id > INT32_MAX:
                raise OverflowError("repository ids no longer fit GraphQL's Int")
            repo_id = self._next_repo_id
            self._next_repo_id += rng.randint(1, 50)
            self._clock += timedelta(seconds=rng.randint(1, 3600))
            stargazers = (
                stars if stars is not None else min(int(rng.lognormvariate(1.2, 2.2)), 400_000)
            )
            visibility: Visibility = "INTERNAL" if internal else "PRIVATE" if private else "PUBLIC"
            repo = Repo(
                database_id=repo_id,
                node_id=node_id("Repository", repo_id),
                name=name or self._fresh_name(target),
                owner_id=target.database_id,
                stargazers=stargazers,
                forks=forks if forks is not None else int(stargazers * rng.uniform(0.0, 0.3)),
                watchers=watchers
                if watchers is not None
                else 1 + int(stargazers * rng.uniform(0.0, 0.08)),
                is_fork=fork if fork is not None else rng.random() < 0.15,
                is_archived=archived if archived is not None else rng.random() < 0.05,
                visibility=visibility,
                created_at=self._clock,
                pushed_at=self._clock,
                updated_at=self._clock,
            )
            if self._name_taken(target, repo.name):
                raise ValueError(f"{target.login}/{repo.name} exists")
            self.repos[repo_id] = repo
            self._by_node[repo.node_id] = repo
            target.repo_ids.append(repo_id)
            self._index_name(target.database_id, repo.name)
            return repo

    def _name_taken(self, owner: Owner, name: str) -> bool:
        return name.lower() in self._names.get(owner.database_id, set())

    def _index_name(self, owner_id: int, name: str, add: bool = True) -> None:
        names = self._names.setdefault(owner_id, set())
        if add:
            names.add(name.lower())
        else:
            names.discard(name.lower())

    def _fresh_name(self, owner: Owner) -> str:
        base = f"{self.rng.choice(_ADJECTIVES)}-{self.rng.choice(_NOUNS)}"
        name, n = base, 1
        while self._name_taken(owner, name):
            n += 1
            name = f"{base}-{n}"
        return name

    def add_collaborator(self, user: OwnerRef, repo: RepoRef) -> None:
        """Make ``user`` a collaborator: the repo shows up under COLLABORATOR affiliation."""
        with self.lock:
            target, r = self.owner(user), self.repo(repo)
            if target.kind != "User" or r.owner_id == target.database_id:
                raise ValueError("only a user other than the owner can collaborate")
            target.collaborator_repo_ids.add(r.database_id)

    def add_member(self, org: OwnerRef, user: OwnerRef) -> None:
        """Make ``user`` a member of ``org`` (ORGANIZATION_MEMBER affiliation)."""
        with self.lock:
            o, u = self.owner(org), self.owner(user)
            if o.kind != "Organization" or u.kind != "User":
                raise ValueError("members are users of organizations")
            u.member_of.add(o.database_id)

    def sprinkle_collaborations(self, fraction: float = 0.2, max_per_user: int = 3) -> int:
        """Give a ``fraction`` of users collaborator access to others' repos; returns count.

        This is what makes a client that forgets ``ownerAffiliations: [OWNER]`` record
        repositories under the wrong owner.
        """
        with self.lock:
            all_repos = list(self.repos.values())
            added = 0
            for user in [o for o in self.owners.values() if o.kind == "User"]:
                if self.rng.random() >= fraction:
                    continue
                for _ in range(self.rng.randint(1, max_per_user)):
                    if not all_repos:
                        break
                    candidate = self.rng.choice(all_repos)
                    if candidate.owner_id != user.database_id:
                        user.collaborator_repo_ids.add(candidate.database_id)
                        added += 1
            return added

    # -- changing ----------------------------------------------------------------------

    def rename_owner(self, owner: OwnerRef, new_login: str) -> Owner:
        """A new login; the old one stops resolving, ids and history stay."""
        with self.lock:
            target = self.owner(owner)
            if new_login.lower() in self._by_login and new_login.lower() != target.login.lower():
                raise ValueError(f"login {new_login!r} is taken")
            del self._by_login[target.login.lower()]
            target.login = new_login
            self._by_login[new_login.lower()] = target.database_id
            return target

    def rename_repo(self, repo: RepoRef, new_name: str) -> Repo:
        """A new repository name (same databaseId and node id)."""
        with self.lock:
            r = self.repo(repo)
            if self._name_taken(self.owners[r.owner_id], new_name):
                raise ValueError(f"name {new_name!r} is taken")
            self._index_name(r.owner_id, r.name, add=False)
            r.name = new_name
            self._index_name(r.owner_id, new_name)
            return r

    def delete_owner(self, owner: OwnerRef) -> None:
        """The owner and all its repositories disappear (node ids stop resolving)."""
        with self.lock:
            target = self.owner(owner)
            for repo_id in list(target.repo_ids):
                self.delete_repo(repo_id)
            del self.owners[target.database_id]
            self._names.pop(target.database_id, None)
            del self._by_login[target.login.lower()]
            del self._by_node[target.node_id]
            for other in self.owners.values():
                other.member_of.discard(target.database_id)

    def delete_repo(self, repo: RepoRef) -> None:
        """The repository disappears from every connection and from ``node(id:)``."""
        with self.lock:
            r = self.repo(repo)
            del self.repos[r.database_id]
            del self._by_node[r.node_id]
            self.owners[r.owner_id].repo_ids.remove(r.database_id)
            self._index_name(r.owner_id, r.name, add=False)
            for other in self.owners.values():
                other.collaborator_repo_ids.discard(r.database_id)

    def transfer_repo(self, repo: RepoRef, new_owner: OwnerRef) -> Repo:
        """Move a repository to another owner, keeping its ids (GitHub's transfer)."""
        with self.lock:
            r, target = self.repo(repo), self.owner(new_owner)
            if self._name_taken(target, r.name):
                raise ValueError(f"{target.login}/{r.name} exists")
            self.owners[r.owner_id].repo_ids.remove(r.database_id)
            self._index_name(r.owner_id, r.name, add=False)
            target.repo_ids.append(r.database_id)
            self._index_name(target.database_id, r.name)
            target.collaborator_repo_ids.discard(r.database_id)
            r.owner_id = target.database_id
            return r

    def make_private(self, repo: RepoRef, private: bool = True) -> Repo:
        """Switch visibility; a private repository must vanish from a PUBLIC scan."""
        with self.lock:
            r = self.repo(repo)
            r.visibility = "PRIVATE" if private else "PUBLIC"
            return r

    def set_counts(
        self,
        repo: RepoRef,
        *,
        stars: int | None = None,
        forks: int | None = None,
        watchers: int | None = None,
    ) -> Repo:
        """Set counters explicitly (e.g. watchers to 0 for the watcher-drop alarm)."""
        with self.lock:
            r = self.repo(repo)
            if stars is not None:
                r.stargazers = stars
            if forks is not None:
                r.forks = forks
            if watchers is not None:
                r.watchers = watchers
            return r

    def advance_day(self) -> None:
        """One day passes: counters move (mostly up, sometimes down), seeded."""
        with self.lock:
            self.day += 1
            rng = self.rng
            for r in self.repos.values():
                if rng.random() < 0.4:
                    r.stargazers = max(
                        0, r.stargazers + int(rng.expovariate(0.5)) - (rng.random() < 0.1)
                    )
                if rng.random() < 0.15:
                    r.forks = max(0, r.forks + rng.choice((-1, 1, 1, 2)))
                if rng.random() < 0.1:
                    r.watchers = max(0, r.watchers + rng.choice((-1, 1, 1)))
                if rng.random() < 0.1:
                    r.pushed_at = r.updated_at = r.pushed_at + timedelta(days=1)

    # -- ground truth ------------------------------------------------------------------

    def truth(self, owners: Iterable[OwnerRef] | None = None) -> Truth:
        """repo databaseId -> (owner databaseId, stargazers, forks, watchers), public only.

        ``owners`` restricts it to repositories owned by those owners (e.g. the tracked
        ones).  Collaborator repositories count under their real owner only.
        """
        with self.lock:
            wanted = None if owners is None else {self.owner(o).database_id for o in owners}
            return {
                r.database_id: (r.owner_id, r.stargazers, r.forks, r.watchers)
                for r in self.repos.values()
                if not r.is_private and (wanted is None or r.owner_id in wanted)
            }
