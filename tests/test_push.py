"""`stackpref push` at the huggingface_hub boundary: HfApi's methods are replaced by a fake Hub
that records every call and keeps the files it was sent, so a second push sees them. Offline mode
is forced, so a call the fake does not cover fails instead of reaching the network."""

import hashlib
import json
import shutil
from fnmatch import fnmatchcase
from pathlib import Path

import httpx2
import huggingface_hub
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from huggingface_hub import CommitInfo, HfApi
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.hf_api import RepoFile, RepoUrl

from stackpref.cli import cli
from stackpref.errors import BuildInvalidError, ConfigError, HubError

pytestmark = pytest.mark.slow

TOKEN = "hf_" + "S3cretT0ken" * 3  # made up; the tests look for it everywhere
PARQUET = ["data/pairs/test-00000-of-00001.parquet", "data/pairs/train-00000-of-00001.parquet",
           "data/sft/test-00000-of-00001.parquet", "data/sft/train-00000-of-00001.parquet"]
EVERY_FILE = ["README.md", "manifest.json", *PARQUET]


class FakeHub:
    """The Hub as HfApi sees it: repos of files (path -> bytes); LFS for Parquet, git blobs else."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.tokens: set[str] = set()
        self.files: dict[str, bytes] = {".gitattributes": b"*.parquet filter=lfs\n"}
        self.fail_with: Exception | None = None

    def install(self, monkeypatch) -> None:
        hub = self

        def method(name, body):
            def call(api, *args, **kwargs):
                hub.tokens.add(api.token)
                hub.calls.append((name, {"args": args, **kwargs}))
                if hub.fail_with is not None:
                    raise hub.fail_with
                return body(*args, **kwargs)
            monkeypatch.setattr(HfApi, name, call)

        method("create_repo", lambda repo_id, **_: RepoUrl(f"https://huggingface.co/datasets/{repo_id}"))
        method("create_branch", lambda *_, **__: None)
        method("list_repo_tree", lambda *_, **__: [self._entry(p, b) for p, b in sorted(self.files.items())])
        method("upload_folder", self._upload)

    def _entry(self, path: str, data: bytes) -> RepoFile:
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git's blob id
        lfs = {"size": len(data), "oid": hashlib.sha256(data).hexdigest(), "pointerSize": 134}
        return RepoFile(path=path, size=len(data), oid=blob, lfs=lfs if path.endswith(".parquet") else None)

    def _upload(self, *, folder_path, allow_patterns, delete_patterns, **_):
        for path in list(self.files):
            if any(fnmatchcase(path, pattern) for pattern in delete_patterns or []):
                del self.files[path]
        for file in Path(folder_path).rglob("*"):
            path = file.relative_to(folder_path).as_posix()
            if file.is_file() and any(fnmatchcase(path, pattern) for pattern in allow_patterns):
                self.files[path] = file.read_bytes()
        return CommitInfo(commit_url="https://huggingface.co/datasets/me/coffee/commit/abc123", commit_message="",
                          commit_description="", oid="abc123")

    def named(self, name: str) -> list[dict]:
        return [kwargs for called, kwargs in self.calls if called == name]


@pytest.fixture
def hub(monkeypatch, tmp_path) -> FakeHub:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-login" / "token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    fake = FakeHub()
    fake.install(monkeypatch)
    return fake


@pytest.fixture
def build(sample_build, tmp_path) -> Path:
    """A private copy of the sample build, free to corrupt."""
    return Path(shutil.copytree(sample_build, tmp_path / "build"))


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_token_nowhere(result, out: Path) -> None:
    assert TOKEN not in result.output and TOKEN not in (result.stderr or "")
    for file in out.rglob("*"):
        assert not file.is_file() or TOKEN.encode() not in file.read_bytes(), file


def test_push_sends_dataset_repo_revision_private_message_and_files(hub, build):
    result = invoke("push", build, "me/coffee", "--private", "--revision", "dev", "-m", "first cut",
                    "--token", TOKEN)
    assert result.exit_code == 0, result.output
    (create,) = hub.named("create_repo")
    assert create["args"] == ("me/coffee",)
    assert create["repo_type"] == "dataset" and create["private"] is True and create["exist_ok"] is True
    (branch,) = hub.named("create_branch")
    assert branch["args"] == ("me/coffee",) and branch["branch"] == "dev" and branch["repo_type"] == "dataset"
    (upload,) = hub.named("upload_folder")
    assert upload["repo_id"] == "me/coffee" and upload["repo_type"] == "dataset" and upload["revision"] == "dev"
    assert upload["commit_message"] == "first cut"
    assert upload["allow_patterns"] == EVERY_FILE and upload["delete_patterns"] is None
    assert hub.tokens == {TOKEN}
    assert sorted(hub.files) == sorted([".gitattributes", *EVERY_FILE])
    # The repo's card names the repo in its examples; the build's own card keeps the placeholder,
    # and the folder the upload was made from (links to the build's files) is gone.
    uploaded = hub.files["README.md"].decode()
    assert 'load_dataset("me/coffee", "pairs")' in uploaded and "REPO_ID_OR_PATH" not in uploaded
    assert "REPO_ID_OR_PATH" in (build / "README.md").read_text()
    assert not Path(upload["folder_path"]).exists() and sorted(p.name for p in build.parent.iterdir()) == ["build"]
    assert all(hub.files[path] == (build / path).read_bytes() for path in PARQUET + ["manifest.json"])
    assert "https://huggingface.co/datasets/me/coffee/tree/dev" in result.output
    assert_token_nowhere(result, build)


def test_repush_of_unchanged_build_makes_no_commit(hub, build, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    first = invoke("push", build, "me/coffee")
    assert first.exit_code == 0, first.output
    (create,) = hub.named("create_repo")
    assert create["private"] is False and not hub.named("create_branch")  # main needs no branch
    assert hub.named("upload_folder")[0]["revision"] == "main"
    assert hub.named("upload_folder")[0]["commit_message"].startswith("stackpref ")
    second = invoke("push", build, "me/coffee")
    assert second.exit_code == 0, second.output
    assert len(hub.named("upload_folder")) == 1 and "nothing changed" in second.output
    assert "https://huggingface.co/datasets/me/coffee\n" in second.output
    assert hub.tokens == {TOKEN}
    assert_token_nowhere(first, build)
    assert_token_nowhere(second, build)


def test_repush_sends_only_changes_and_removes_stale_shards(hub, build):
    assert invoke("push", build, "me/coffee", "--token", TOKEN).exit_code == 0
    hub.files["data/pairs/train-00001-of-00002.parquet"] = b"an older build's second shard"
    hub.files["notes/keep-me.md"] = b"added on the Hub by hand"
    hub.files["README.md"] = b"an older build's card"
    result = invoke("push", build, "me/coffee", "--token", TOKEN)
    assert result.exit_code == 0, result.output
    upload = hub.named("upload_folder")[-1]
    assert upload["allow_patterns"] == ["README.md"]
    assert upload["delete_patterns"] == ["data/pairs/train-00001-of-00002.parquet"]
    assert "notes/keep-me.md" in hub.files and "data/pairs/train-00001-of-00002.parquet" not in hub.files
    assert "removed 1 stale file" in result.output


def test_dry_run_sends_nothing_and_shows_the_plan(hub, build, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    result = invoke("push", build, "me/coffee", "--dry-run", "--private", "--revision", "dev", "--token", TOKEN)
    assert result.exit_code == 0, result.output
    assert hub.calls == []
    for path in EVERY_FILE:
        size = (build / path).stat().st_size
        assert any(path in line and f"{size:,}" in line for line in result.output.splitlines()), path
    assert "me/coffee" in result.output and "revision: dev" in result.output and "private" in result.output
    assert "from --token (never shown)" in result.output
    assert_token_nowhere(result, build)


def test_dry_run_without_a_token_says_where_one_comes_from(hub, build):
    result = invoke("push", build, "me/coffee", "--dry-run")
    assert result.exit_code == 0 and "none found: pass --token, set HF_TOKEN" in result.output
    assert "public" in result.output and "revision: main" in result.output and hub.calls == []


def _rewrite_parquet(build: Path) -> None:
    path = build / PARQUET[1]
    table = pq.read_table(path)
    margin = table.schema.get_field_index("margin")
    pq.write_table(table.set_column(margin, "margin", table["margin"].cast(pa.string())), path)


def _fail_leakage(build: Path) -> None:
    manifest = json.loads((build / "manifest.json").read_text())
    manifest["overlap_check"].update(passed=False, questions_in_two_splits=2)
    (build / "manifest.json").write_text(json.dumps(manifest))


def _move_a_test_row_to_train(build: Path) -> None:
    """A test question's row copied into the train file: a leak only the files show."""
    train, test = build / PARQUET[1], build / PARQUET[0]
    pq.write_table(pa.concat_tables([pq.read_table(train), pq.read_table(test).slice(0, 1)]), train)


CORRUPTIONS = {
    "no manifest": (lambda b: (b / "manifest.json").unlink(), "no manifest.json"),
    "wrong column type": (_rewrite_parquet, "column 'margin' is string; the output contract says int64"),
    "leakage recorded": (_fail_leakage, "leakage check failed in manifest.json"),
    "leak in the files": (_move_a_test_row_to_train, "rows and"),  # the footer disagrees with the manifest
    "broken card YAML": (lambda b: (b / "README.md").write_text("---\nlicense: [cc-by-sa-4.0\n---\n# x\n"),
                         "the card's YAML metadata is invalid"),
    "card without metadata": (lambda b: (b / "README.md").write_text("# just text\n"), "metadata lacks license"),
    "stray shard": (lambda b: shutil.copy(b / PARQUET[1], b / "data/pairs/train-00009-of-00009.parquet"),
                    "not listed in manifest.json"),
    "missing shard": (lambda b: (b / PARQUET[2]).unlink(), "listed in manifest.json but missing"),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_invalid_build_is_refused_and_nothing_sent(hub, build, corruption):
    corrupt, reason = CORRUPTIONS[corruption]
    corrupt(build)
    result = invoke("push", build, "me/coffee", "--token", TOKEN)
    assert result.exit_code == BuildInvalidError.exit_code, result.output
    assert result.output.startswith("Error: ") and reason in result.output
    assert hub.calls == []
    assert invoke("push", build, "me/coffee", "--dry-run").exit_code == BuildInvalidError.exit_code


def test_leak_found_in_the_files_is_refused(hub, build):
    """The recorded check passed, but the files (rows, bytes and sha256 edited to match) hold a leak."""
    _move_a_test_row_to_train(build)
    manifest = json.loads((build / "manifest.json").read_text())
    path = build / PARQUET[1]
    entry = next(e for e in manifest["files"]["pairs/train"] if e["path"] == PARQUET[1])
    entry.update(rows=pq.ParquetFile(path).metadata.num_rows, bytes=path.stat().st_size,
                 sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    (build / "manifest.json").write_text(json.dumps(manifest))
    result = invoke("push", build, "me/coffee", "--token", TOKEN)
    assert result.exit_code == BuildInvalidError.exit_code
    assert "leakage check failed in the Parquet files" in result.output and hub.calls == []


def test_card_declaring_other_rows_than_the_files_is_refused(hub, build):
    card = build / "README.md"
    card.write_text(card.read_text().replace("num_examples: 60", "num_examples: 61", 1))
    result = invoke("push", build, "me/coffee", "--token", TOKEN)
    assert result.exit_code == BuildInvalidError.exit_code and "dataset_info declares" in result.output
    assert hub.calls == []


def test_bad_repo_id_and_missing_token_send_nothing(hub, build):
    result = invoke("push", build, "not a repo id!", "--token", TOKEN)
    assert result.exit_code == ConfigError.exit_code and "not a Hub repo id" in result.output
    result = invoke("push", build, "me/coffee")
    assert result.exit_code == HubError.exit_code and "no Hugging Face token: pass --token" in result.output
    assert hub.calls == []


@pytest.mark.parametrize("token_from", ["--token", "HF_TOKEN"])
def test_hub_errors_are_shown_without_the_token(hub, build, monkeypatch, token_from):
    """A Hub error that quotes the request's Authorization header is shown scrubbed."""
    request = httpx2.Request("POST", "https://huggingface.co/api/repos/create",
                             headers={"authorization": f"Bearer {TOKEN}"})
    hub.fail_with = HfHubHTTPError(f"401 Unauthorized (sent Authorization: Bearer {TOKEN})",
                                   response=httpx2.Response(401, request=request))
    args = ["--token", TOKEN] if token_from == "--token" else []
    if token_from == "HF_TOKEN":
        monkeypatch.setenv("HF_TOKEN", TOKEN)
    result = invoke("push", build, "me/coffee", *args)
    assert result.exit_code == HubError.exit_code
    assert "pushing to me/coffee failed: HfHubHTTPError: 401 Unauthorized" in result.output
    assert "Bearer ***" in result.output
    assert hub.tokens == {TOKEN}
    assert_token_nowhere(result, build)


def test_build_with_push_builds_then_pushes(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    out = tmp_path / "fresh"
    result = invoke("build", "-q", "--out", out, "--push", "me/coffee")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out}") and "https://huggingface.co/datasets/me/coffee" in result.output
    (upload,) = hub.named("upload_folder")
    assert upload["allow_patterns"] == EVERY_FILE and upload["repo_type"] == "dataset"
    assert_token_nowhere(result, out)


def test_build_with_push_checks_the_token_before_building(hub, tmp_path):
    out = tmp_path / "never"
    result = invoke("build", "-q", "--out", out, "--push", "me/coffee")
    assert result.exit_code == HubError.exit_code and not out.exists() and hub.calls == []
