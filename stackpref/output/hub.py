"""`stackpref push`: publish a validated build folder as a Hugging Face Hub dataset repo.

Only what differs from the repo is sent, in one `upload_folder` call: huggingface_hub makes it one
commit, or (with hf_xet, for builds of many files) streams it in resumable batches with a progress
display. Unchanged content makes no commit at all. The token is handed to huggingface_hub only:
it is never printed, logged or written, and error text from the Hub is scrubbed of it.
"""

import glob
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from urllib.parse import quote

from stackpref.errors import ConfigError, HubError, InputError, StackprefError
from stackpref.output import card, storage
from stackpref.output.folder import CARD
from stackpref.output.validate import ValidBuild, validate_build
from stackpref.splits import FILE_SPLITS

REPO_TYPE = "dataset"
DEFAULT_REVISION = "main"
_CHUNK = 1 << 20
_TOKEN_HELP = "pass --token, set HF_TOKEN, or log in once with `hf auth login`"


@dataclass(frozen=True)
class PushPlan:
    build: ValidBuild
    repo_id: str
    revision: str
    private: bool


@dataclass(frozen=True)
class PushResult:
    url: str  # the dataset's page (at the revision, when not main)
    commit_url: str | None  # None: the repo already held this build, so no commit was made
    uploaded: tuple[str, ...]
    deleted: tuple[str, ...]

    def summary(self) -> str:
        if self.commit_url is None:
            return f"nothing changed: the repo already holds this build, no commit made\n{self.url}"
        removed = f", removed {len(self.deleted)} stale file(s)" if self.deleted else ""
        return f"pushed {len(self.uploaded)} changed file(s){removed}: {self.commit_url}\n{self.url}"


def check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ConfigError(f"{repo_id!r} is not a Hub repo id (owner/name): {' '.join(str(error).split())}") from None


def plan_push(out: str | Path, repo_id: str, *, revision: str = DEFAULT_REVISION, private: bool = False) -> PushPlan:
    """Validate the repo id and the build; nothing is sent."""
    check_repo_id(repo_id)
    if storage.is_uri(str(out)):
        raise InputError(f"{out}: push uploads a local build folder; copy the build to this machine first")
    return PushPlan(build=validate_build(out), repo_id=repo_id, revision=revision, private=private)


def token_source(token: str | None) -> str | None:
    """Where `push` will take the token from, for the plan; None when there is none. Reads no token
    file and contacts nothing (the login cache is only looked for)."""
    from huggingface_hub import constants

    if token:
        return "--token"
    if os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"):
        return "HF_TOKEN"
    return "the huggingface_hub login cache" if Path(constants.HF_TOKEN_PATH).is_file() else None


def resolve_token(token: str | None) -> str:
    """--token, else HF_TOKEN or the login cache (huggingface_hub's own order); HubError when none."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise HubError(f"no Hugging Face token: {_TOKEN_HELP}")
    return token


def describe_plan(plan: PushPlan, token_from: str | None) -> str:
    """The dry run's report: repo, revision, visibility, token source, every file with its size."""
    from huggingface_hub import constants

    splits = plan.build.manifest["counts"]["splits"]
    total = sum(f.bytes for f in plan.build.files)
    width = max(len(f.path) for f in plan.build.files)
    return "\n".join([
        f"plan (dry run, nothing sent): {plan.build.out} -> {constants.ENDPOINT}/datasets/{plan.repo_id}",
        (f"  repo:     {plan.repo_id} (type dataset), created if missing as "
         f"{'private' if plan.private else 'public'}; an existing repo keeps its visibility"),
        f"  revision: {plan.revision}" + ("" if plan.revision == DEFAULT_REVISION else " (created from main if missing)"),
        f"  token:    {'from ' + token_from + ' (never shown)' if token_from else 'none found: ' + _TOKEN_HELP}",
        (f"  checks:   manifest, checksums and counts, Parquet schemas, leakage check, card metadata and text"
         f"{'' if plan.build.notes else ', load_dataset'}: passed; pairs train "
         f"{splits['pairs']['train']:,} / test {splits['pairs']['test']:,}, sft train {splits['sft']['train']:,} / "
         f"test {splits['sft']['test']:,}"),
        *(f"  note:     {note}" for note in plan.build.notes),
        f"  card:     {card.PLACEHOLDER} in its examples becomes {plan.repo_id} in the uploaded README.md",
        f"  files:    {len(plan.build.files)}, {total:,} bytes; those that differ from the repo go up in one commit",
        *(f"    {f.path:<{width}}  {f.bytes:>12,}" for f in plan.build.files),
    ])


def push(plan: PushPlan, *, token: str | None = None, message: str | None = None) -> PushResult:
    """Create the repo (and branch) if missing, then commit what differs from it: changed files,
    and the removal of old data files the card's patterns would still load. Nothing when equal."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile

    token = resolve_token(token)
    api = HfApi(token=token)
    build = plan.build
    with _scrubbed(token, plan.repo_id):
        repo = api.create_repo(plan.repo_id, repo_type=REPO_TYPE, private=plan.private, exist_ok=True)
        if plan.revision != DEFAULT_REVISION:
            api.create_branch(repo.repo_id, branch=plan.revision, repo_type=REPO_TYPE, exist_ok=True)
        remote = {
            item.path: item
            for item in api.list_repo_tree(repo.repo_id, repo_type=REPO_TYPE, revision=plan.revision, recursive=True)
            if isinstance(item, RepoFile)
        }
        url = repo.url if plan.revision == DEFAULT_REVISION else f"{repo.url}/tree/{quote(plan.revision, safe='')}"
        with _upload_view(build, repo.repo_id) as folder:
            changed = tuple(f.path for f in build.files if not _same(folder / f.path, remote.get(f.path)))
            stale = _stale(build, remote)
            if not changed and not stale:
                return PushResult(url=url, commit_url=None, uploaded=(), deleted=())
            commit = api.upload_folder(
                repo_id=repo.repo_id, folder_path=folder, repo_type=REPO_TYPE, revision=plan.revision,
                commit_message=message or _default_message(build),
                allow_patterns=[glob.escape(path) for path in changed],
                delete_patterns=[glob.escape(path) for path in stale] or None,
            )
    return PushResult(url=url, commit_url=commit.commit_url, uploaded=changed, deleted=stale)


@contextmanager
def _upload_view(build: ValidBuild, repo_id: str) -> Iterator[Path]:
    """The build as the repo gets it: its files (hard links, copies where links cannot be made) and
    its card with the repo id in the usage examples instead of the placeholder. Made beside OUT
    (same filesystem: links), else in the system's temporary folder; removed afterwards."""
    out = Path(build.out)
    try:
        view = Path(tempfile.mkdtemp(prefix=f".{out.name}.push-{os.getpid()}.", dir=out.parent))
    except OSError:
        view = Path(tempfile.mkdtemp(prefix="stackpref-push-"))
    try:
        for file in build.files:
            target = view / file.path
            target.parent.mkdir(parents=True, exist_ok=True)
            if file.path == CARD:
                text = (out / CARD).read_text(encoding="utf-8")
                target.write_bytes(card.fill_repo_id(text, repo_id).encode("utf-8"))
                continue
            try:
                os.link(out / file.path, target)
            except OSError:
                shutil.copyfile(out / file.path, target)
        yield view
    finally:
        shutil.rmtree(view, ignore_errors=True)


def _same(local: Path, remote) -> bool:
    """Whether the repo's file has the local file's content: the LFS sha256 for large files, the
    git blob id for small ones (what the Hub itself compares)."""
    if remote is None:
        return False
    size = local.stat().st_size
    if remote.lfs is not None:
        return remote.lfs.size == size and remote.lfs.sha256 == _digest(local, hashlib.sha256())
    return remote.size == size and remote.blob_id == _digest(local, hashlib.sha1(f"blob {size}\0".encode()))


def _digest(path: Path, digest) -> str:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stale(build: ValidBuild, remote: dict) -> tuple[str, ...]:
    """Repo files the card's data_files patterns match that this build does not have (a rebuild
    with fewer shards): left in place, `load_dataset` would read them with the new ones."""
    # Every split's pattern, declared or not: an old shard of a split that now has no rows would
    # stay in the repo beside a card that no longer names it.
    patterns = [f"data/{config}/{split}-*.parquet" for config, splits in FILE_SPLITS.items() for split in splits]
    patterns += [files["path"] for config in build.card["configs"] for files in config["data_files"]]
    local = {f.path for f in build.files}
    return tuple(sorted(path for path in remote if path not in local
                        and any(fnmatchcase(path, pattern) for pattern in patterns)))


def _default_message(build: ValidBuild) -> str:
    splits = build.manifest["counts"]["splits"]
    return (f"stackpref {build.manifest.get('stackpref_version', '')}: pairs {splits['pairs']['train']:,}/"
            f"{splits['pairs']['test']:,}, sft {splits['sft']['train']:,}/{splits['sft']['test']:,} (train/test)")


@contextmanager
def _scrubbed(token: str, repo_id: str) -> Iterator[None]:
    """Any failure while talking to the Hub becomes a one-line HubError without the token in it."""
    try:
        yield
    except StackprefError:
        raise
    except Exception as error:  # noqa: BLE001 - huggingface_hub and httpx raise many types; none may pass unscrubbed
        text = " ".join(f"{type(error).__name__}: {error}".split()).replace(token, "***")
        raise HubError(f"pushing to {repo_id} failed: {text}") from None
