"""Accept what is safe, refuse what is not (issue 13, item 4).

1. An external DOCTYPE alone (`<!DOCTYPE posts SYSTEM 'posts.dtd'>`, line 2 of some real dumps)
   is accepted and never loaded: the same output as the dump without it, from a plain Posts.xml
   (the byte-range reader) and from a .7z (the streaming reader), with a PostLinks.xml beside it
   (the one file whose prolog lxml itself parses). The DTD it names would break the build if it
   were read. An internal subset, any `<!ENTITY`, a parameter or external entity stays refused.
2. `--on-bad-input skip`: a source that fails to parse is left out whole (nothing from it in the
   data, its keys kept out of the plan), named with the reason in manifest.json and the card; the
   build fails when nothing is left; `fail` (the default) is unchanged.

Site folders are named as hosts (`good.example.org`) or keep the real dump's folder name.
"""

import hashlib
import http.server
import json
import random
import string
import threading
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import SHARED_SITES, needs_shared
from helpers import XML_DECL, cli_build, dump_row
from lxml import etree

from stackpref.errors import InputError
from stackpref.output import storage
from stackpref.sources import posts_xml
from stackpref.sources.archive import ArchiveSource

py7zr = pytest.importorskip("py7zr")
slow = pytest.mark.slow

GOOD, OTHER, BAD = "good.example.org", "other.example.org", "bad.example.org"
REAL_DOCTYPE = "<!DOCTYPE posts SYSTEM 'posts.dtd'>"  # as line 2 of real dumps has it
# A DTD that breaks any parse that loads it: an unterminated parameter entity.
BREAKING_DTD = '<!ENTITY % broken "this DTD never ends\n<<<\n'


# --- inputs -------------------------------------------------------------------------------------


def _words(rng: random.Random, n: int) -> str:
    return " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 9))) for _ in range(n))


def _rows(seed: int, questions: int = 12) -> list[str]:
    """Distinct questions of random words, each with three answers of different scores."""
    rng = random.Random(seed)
    rows, post = [], 1000
    for q in range(1, questions + 1):
        rows.append(dump_row(Id=q, PostTypeId=1, CreationDate=f"2020-01-{q % 28 + 1:02d}T10:00:00.000", Score=3,
                             Title=f"{_words(rng, 6).capitalize()}?", Body=f"<p>{_words(rng, 30)}</p>",
                             OwnerUserId=q, AnswerCount=3, ContentLicense="CC BY-SA 4.0"))
        for score in (9, 3, 0):
            post += 1
            rows.append(dump_row(Id=post, PostTypeId=2, ParentId=q, CreationDate="2020-02-01T10:00:00.000",
                                 Score=score, Body=f"<p>{_words(rng, 25)}</p>", OwnerUserId=post,
                                 ContentLicense="CC BY-SA 4.0"))
    return rows


def _document(root: str, rows: list[str], doctype: str | None = None) -> bytes:
    """A dump file as the dumps write it (BOM, declaration, one row a line), with `doctype` as line 2."""
    prolog = XML_DECL + (doctype.replace("{root}", root) + "\n" if doctype else "")
    return (prolog + f"<{root}>\n" + "\n".join(rows) + f"\n</{root}>\n").encode("utf-8")


def _posts(seed: int, doctype: str | None = None) -> bytes:
    return _document("posts", _rows(seed), doctype)


def _links(doctype: str | None = None) -> bytes:
    """PostLinks.xml: questions 2 and 7 closed as duplicates of 1 and 5, one plain link."""
    links = [(2, 1, 3), (7, 5, 3), (3, 4, 1)]
    rows = [dump_row(Id=i + 1, CreationDate="2020-03-01T10:00:00.000", PostId=a, RelatedPostId=b, LinkTypeId=kind)
            for i, (a, b, kind) in enumerate(links)]
    return _document("postlinks", rows, doctype)


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _write_7z(path: Path, members: list[tuple[str, bytes]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with py7zr.SevenZipFile(path, "w") as archive:
        for name, data in members:
            archive.writestr(data, name)
    return path


def _site(root: Path, host: str, container: str, posts: bytes, links: bytes | None = None,
          extra: list[tuple[str, bytes]] = ()) -> Path:
    """A site as `host/Posts.xml` (+ PostLinks.xml and `extra` files beside it) or `host.7z`; the
    location to build."""
    if container == "7z":
        members = [("Posts.xml", posts), *([("PostLinks.xml", links)] if links else []), *extra]
        return _write_7z(root / f"{host}.7z", members)
    _write(root / host / "Posts.xml", posts)
    if links:
        _write(root / host / "PostLinks.xml", links)
    for name, data in extra:
        _write(root / host / name, data)
    return root / host


def _data(out: Path) -> dict[str, bytes]:
    """Every Parquet file of a build, by its path in the build."""
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / "data").rglob("*.parquet"))}
    assert files
    return files


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def _built(result, out: Path) -> dict:
    assert result.exit_code == 0, result.output
    assert sorted(out.parent.glob(f".{out.name}.*")) == []  # no staging folder left
    return _manifest(out)


def _assert_refused(result, out: Path, names: str, *says: str) -> str:
    """Exit 3, one `Error: ` line naming `names` and saying each of `says`, nothing left behind."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == InputError.exit_code, result.output
    lines = result.output.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert names in lines[0], lines[0]
    said = lines[0].split(names, 1)[1]
    for text in says:
        assert text in said, f"{text!r} not in {said!r}"
    assert not out.exists()
    assert sorted(out.parent.glob(f".{out.name}.*")) == []
    return lines[0]


@pytest.fixture
def dtd_server():
    """An HTTP server that serves BREAKING_DTD at any path and records every request."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = BREAKING_DTD.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/posts.dtd", hits
    finally:
        server.shutdown()
        server.server_close()


# --- 1. DOCTYPE: the readers --------------------------------------------------------------------

ACCEPTED = {
    "system-single-quotes": REAL_DOCTYPE,
    "system-double-quotes-newlines": '<!DOCTYPE\n  {root}\n\tSYSTEM\n  "posts.dtd"\n>',
    "public": "<!DOCTYPE {root} PUBLIC \"-//Stack Exchange//DTD Posts 1.0//EN\" 'posts.dtd'>",
    "public-newlines": "<!DOCTYPE {root}\n PUBLIC '-//Stack Exchange//DTD Posts 1.0//EN'\n \"posts.dtd\">",
    "no-external-id": "<!DOCTYPE {root}>",
}

# (DOCTYPE or other prolog text, the line refused, what the error says)
REFUSED = {
    "empty-internal-subset": ("<!DOCTYPE {root} []>", 2, "internal subset"),
    "internal-entity": ('<!DOCTYPE {root} [\n  <!ENTITY who "EXPANDED-ENTITY">\n]>', 2, "internal subset"),
    "external-id-and-subset": ("<!DOCTYPE {root} SYSTEM 'posts.dtd' [<!ENTITY who \"x\">]>", 2, "internal subset"),
    "parameter-entity": ("<!DOCTYPE {root} [\n  <!ENTITY % p SYSTEM 'posts.dtd'>\n  %p;\n]>", 2, "internal subset"),
    "external-entity": ("<!DOCTYPE {root} [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>", 2, "internal subset"),
    "entity-without-doctype": ('<!ENTITY who "x">', 2, "<!ENTITY"),
    "entity-after-doctype": ("<!DOCTYPE {root} SYSTEM 'posts.dtd'>\n<!ENTITY who \"x\">", 3, "<!ENTITY"),
    "public-without-system-id": ("<!DOCTYPE {root} PUBLIC '-//Stack Exchange//DTD Posts 1.0//EN'>", 2,
                                 "not a plain external reference"),
    "unquoted-system-id": ("<!DOCTYPE {root} SYSTEM posts.dtd>", 2, "not a plain external reference"),
    "two-doctypes": ("<!DOCTYPE {root} SYSTEM 'a.dtd'>\n<!DOCTYPE {root} SYSTEM 'b.dtd'>", 3, "second DTD"),
}


def _range_rows(data: bytes) -> bytes:
    """The rows of `data` as the byte-range reader (plain Posts.xml) reads them, in small ranges."""
    parts = []
    with pa.BufferReader(data) as handle:
        for start, end in posts_xml.byte_ranges(len(data)):
            parts.append(posts_xml.range_rows(handle, len(data), start, end, "Posts.xml")[0])
    return b"".join(parts)


def _split_rows(data: bytes) -> bytes:
    """The rows of `data` as the streaming reader (a .7z member) cuts them, fed in small chunks."""
    chunks = [data[at : at + 7] for at in range(0, len(data), 7)]
    return b"".join(fragment for fragment, _ in posts_xml.split_rows(chunks, "Posts.xml"))


READERS = {"range_rows": _range_rows, "split_rows": _split_rows}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("doctype", ACCEPTED)
def test_both_readers_accept_an_external_doctype(doctype, reader, monkeypatch):
    monkeypatch.setattr(posts_xml, "FRAGMENT_BYTES", 2048)  # several ranges, several fragments
    plain = _posts(1)
    rows = READERS[reader](plain)
    assert rows.count(b"<row") == plain.count(b"<row") == 48
    assert READERS[reader](_posts(1, ACCEPTED[doctype])) == rows


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("doctype", REFUSED)
def test_both_readers_refuse_what_could_declare_entities(doctype, reader):
    text, line, says = REFUSED[doctype]
    with pytest.raises(InputError) as refused:
        READERS[reader](_posts(1, text))
    message = str(refused.value)
    assert message.startswith(f"Posts.xml: line {line}: ") and says in message and "DTD" in message
    assert "\n" not in message


def test_the_named_dtd_would_break_a_parse_that_loads_it(tmp_path):
    """What the tests below rely on: BREAKING_DTD fails any parse that loads it, and a parser with
    the options stackpref uses (load_dtd=False, no_network=True, resolve_entities=False) does not."""
    _write(tmp_path / "posts.dtd", BREAKING_DTD)
    document = tmp_path / "Posts.xml"
    _write(document, _posts(1, REAL_DOCTYPE))
    with pytest.raises(etree.XMLSyntaxError):
        etree.parse(str(document), etree.XMLParser(load_dtd=True))
    safe = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False)
    assert len(etree.parse(str(document), safe).getroot()) == 48


# --- 1. DOCTYPE: whole builds -------------------------------------------------------------------


# System ids that point at a breaking DTD: `posts.dtd` beside the dump (as the real line has it),
# an absolute path, or an http URL of `dtd_server` (libxml2 2.14 dropped HTTP fetching; an older
# one could still try, and the server would count it).
BUILD_DOCTYPES = {
    "real-line-relative": REAL_DOCTYPE,
    "absolute-path-newlines": '<!DOCTYPE {root}\n  SYSTEM\n  "{abs}">',
    "public-http-url": "<!DOCTYPE {root} PUBLIC '-//Stack Exchange//DTD Posts 1.0//EN' \"{url}\">",
    "system-http-url": "<!DOCTYPE {root} SYSTEM '{url}'>",
}


@slow
@pytest.mark.parametrize("container", ["plain", "7z"])
@pytest.mark.parametrize("doctype", BUILD_DOCTYPES)
def test_external_doctype_builds_the_same_and_is_never_loaded(tmp_path, doctype, container, dtd_server):
    """Posts.xml and PostLinks.xml with an external DOCTYPE whose DTD would break the build if it
    were read (a file beside the dump and at an absolute path, or an http URL whose server counts
    requests): the same Parquet files, byte for byte, and the same counts as without it."""
    line = BUILD_DOCTYPES[doctype].replace("{abs}", str(tmp_path / "posts.dtd")).replace("{url}", dtd_server[0])
    dtd = [("posts.dtd", BREAKING_DTD.encode())]
    _write(tmp_path / "posts.dtd", BREAKING_DTD)
    without = _site(tmp_path / "without", GOOD, container, _posts(1), _links(), extra=dtd)
    with_it = _site(tmp_path / "with", GOOD, container, _posts(1, line), _links(line), extra=dtd)
    a, b = tmp_path / "out-without", tmp_path / "out-with"
    plain, doctyped = _built(cli_build(without, a), a), _built(cli_build(with_it, b), b)
    assert _data(a) == _data(b)
    assert plain["counts"] == doctyped["counts"]
    assert doctyped["counts"]["question_clusters"]["duplicate_links"]["resolved"] == 2  # PostLinks.xml was read
    assert doctyped["skipped_sources"] == []
    assert dtd_server[1] == []  # nothing fetched the DTD over the network


@slow
@pytest.mark.parametrize("container", ["plain", "7z"])
@pytest.mark.parametrize("doctype", REFUSED)
def test_dtd_that_could_declare_entities_is_refused(tmp_path, doctype, container):
    text, line, says = REFUSED[doctype]
    src = _site(tmp_path / "in", GOOD, container, _posts(1, text))
    out = tmp_path / "out"
    names = f"{src}:Posts.xml" if container == "7z" else str(src / "Posts.xml")
    _assert_refused(cli_build(src, out), out, names, f"line {line}:", says, "DTD")


@slow
@pytest.mark.parametrize("container", ["plain", "7z"])
def test_postlinks_with_an_internal_subset_is_refused(tmp_path, container):
    src = _site(tmp_path / "in", GOOD, container, _posts(1), _links(REFUSED["internal-entity"][0]))
    out = tmp_path / "out"
    names = f"{src}:PostLinks.xml" if container == "7z" else str(src / "PostLinks.xml")
    _assert_refused(cli_build(src, out), out, names, "line 2:", "internal subset")


def _real_with_doctype(site: str) -> bytes:
    """A real dump with the real DOCTYPE line inserted as line 2 (after the XML declaration)."""
    data = (SHARED_SITES / site / "Posts.xml").read_bytes()
    first = data.index(b"\n") + 1
    assert b"<!DOCTYPE" not in data[:first] and data[first:].startswith(b"<posts>")
    return data[:first] + REAL_DOCTYPE.encode() + b"\n" + data[first:]


@slow
@needs_shared
@pytest.mark.parametrize("container", ["plain", "7z"])
def test_real_dump_with_an_external_doctype_builds_the_same(tmp_path, container):
    """datascience-meta-2024 as it is and with `<!DOCTYPE posts SYSTEM 'posts.dtd'>` as line 2 (a
    breaking posts.dtd beside it): byte-identical Parquet files."""
    host = "datascience.meta.stackexchange.com"
    real = (SHARED_SITES / "datascience-meta-2024" / "Posts.xml").read_bytes()
    extra = [("posts.dtd", BREAKING_DTD.encode())]
    without = _site(tmp_path / "without", host, container, real, extra=extra)
    with_it = _site(tmp_path / "with", host, container, _real_with_doctype("datascience-meta-2024"), extra=extra)
    a, b = tmp_path / "out-without", tmp_path / "out-with"
    plain, doctyped = _built(cli_build(without, a), a), _built(cli_build(with_it, b), b)
    assert _data(a) == _data(b)
    assert plain["counts"] == doctyped["counts"] and plain["counts"]["splits"]["pairs"]["train"] > 0
    assert [i["site"] for i in doctyped["inputs"]] == [host]


# --- 2. --on-bad-input skip ---------------------------------------------------------------------

SKIP = ("--on-bad-input", "skip")


def _good_sites(root: Path) -> Path:
    """Two good sites in a folder of sites: a plain dump with its PostLinks.xml, and a .7z."""
    _site(root, GOOD, "plain", _posts(1), _links())
    _site(root, OTHER, "7z", _posts(2))
    return root


def _truncated(data: bytes) -> bytes:
    """Cut in the middle of the last row."""
    return data[: data.rindex(b"<row") + 30]


# name -> (write the broken source into a folder of sites: its location, its kind, its site,
#          what the reason says)
BROKEN = {
    "truncated-posts-xml": (lambda root: _site(root, BAD, "plain", _truncated(_posts(3))) / "Posts.xml",
                            "posts_xml", BAD, "is it truncated?"),
    "internal-dtd": (lambda root: _site(root, BAD, "plain", _posts(3, REFUSED["internal-entity"][0])) / "Posts.xml",
                     "posts_xml", BAD, "internal subset"),
    "malformed-postlinks": (lambda root: _site(root, BAD, "plain", _posts(3), _links()[:-40]) / "Posts.xml",
                            "posts_xml", BAD, "not well-formed XML"),
    "not-a-7z": (lambda root: _write(root / f"{BAD}.7z", b"7z\xbc\xaf\x27\x1c" + b"\x00" * 10 + b"not really"),
                 "archive", BAD, "not a readable .7z archive"),
    "7z-truncated-member": (lambda root: _site(root, BAD, "7z", _truncated(_posts(3))),
                            "archive", BAD, "is it truncated?"),
    "7z-without-posts-xml": (lambda root: _write_7z(root / f"{BAD}.7z", [("Comments.xml", b"<comments />")]),
                             "archive", BAD, "no Posts.xml member"),
    "parquet-not-parquet": (lambda root: _write(root / "bad.parquet", b"PAR1 this is not parquet"),
                            "table", "bad", "cannot read as parquet"),
    "jsonl-bad-line": (lambda root: _write(root / "bad.jsonl", '{"qid": 3, "question": \n'),
                       "table", "bad", "cannot read as jsonl"),
    # No host in its name and nothing readable to find one in: refused while resolving the sources.
    "nameless-not-xml": (lambda root: _write(root / "broken-2019" / "Posts.xml", "Id,PostTypeId,Body\n1,1,hello\n"),
                         "posts_xml", None, "not well-formed XML"),
    "nameless-not-a-7z": (lambda root: _write(root / "broken-2019.7z", b"not a 7z at all"),
                          "archive", None, "not a readable .7z archive"),
}


def _named(broken: str, bad: Path) -> Path:
    """The file the error names: the broken source, or its PostLinks.xml."""
    return bad.parent / "PostLinks.xml" if broken == "malformed-postlinks" else bad


@pytest.fixture(scope="module")
def good_alone(tmp_path_factory) -> Path:
    """The good sites built alone: what a build that skips a broken source must equal."""
    root = tmp_path_factory.mktemp("good-alone")
    out = root / "out"
    _built(cli_build(_good_sites(root / "sites"), out), out)
    return out


@slow
@pytest.mark.parametrize("broken", BROKEN)
def test_skip_leaves_out_the_broken_source_and_names_it(tmp_path, broken, good_alone):
    write, kind, site, says = BROKEN[broken]
    sites = _good_sites(tmp_path / "sites")
    bad = write(sites)
    out = tmp_path / "out"
    manifest = _built(cli_build(sites, out, *SKIP), out)
    shown = f"{bad.parent.name}/Posts.xml" if kind == "posts_xml" else bad.name  # as the card names inputs

    assert _data(out) == _data(good_alone)  # nothing of the broken source is in the data
    assert manifest["counts"] == _manifest(good_alone)["counts"]  # nor in any count
    assert [storage.name(storage.parent(i["location"])) if i["kind"] == "posts_xml" else storage.name(i["location"])
            for i in manifest["inputs"]] == [GOOD, f"{OTHER}.7z"]
    [entry] = manifest["skipped_sources"]
    # the manifest names inputs as the card does, never by a local absolute path (reasons included)
    assert entry == {"location": shown, "site": site, "kind": kind, "reason": entry["reason"],
                     "bytes": bad.stat().st_size, "sha256": hashlib.sha256(bad.read_bytes()).hexdigest()}
    named = _named(broken, bad)
    assert entry["reason"].startswith(shown if named == bad else f"{bad.parent.name}/{named.name}")
    assert says in entry["reason"] and str(tmp_path) not in json.dumps(manifest)
    assert "\n" not in entry["reason"]
    assert manifest["config"]["on_bad_input"] == "skip"

    card = (out / "README.md").read_text(encoding="utf-8")
    assert "Left out (`--on-bad-input skip`)" in card
    assert f"- `{shown}` ({site or 'site unknown'}, {kind}, sha256 {entry['sha256'][:16]}…): `" in card
    assert says in card and str(tmp_path) not in card  # the reason, with the input by its name only


@slow
@pytest.mark.parametrize("broken", BROKEN)
def test_fail_is_unchanged(tmp_path, broken):
    """Without --on-bad-input (and with `fail`): the first broken source stops the build, naming it."""
    write, _, site, says = BROKEN[broken]
    sites = _good_sites(tmp_path / "sites")
    bad = write(sites)
    out = tmp_path / "out"
    named = str(_named(broken, bad))
    first = _assert_refused(cli_build(sites, out), out, named, *([says] if site else []))
    assert _assert_refused(cli_build(sites, out, "--on-bad-input", "fail"), out, named) == first
    if site is None:  # a nameless dump: as before, its host is what is reported missing
        assert "cannot tell which site" in first


@slow
def test_a_good_build_records_no_skipped_sources(good_alone):
    manifest = _manifest(good_alone)
    assert manifest["skipped_sources"] == [] and manifest["config"]["on_bad_input"] == "fail"
    assert "Left out" not in (good_alone / "README.md").read_text(encoding="utf-8")


@slow
@pytest.mark.parametrize("where", ["read", "resolve", "both"])
def test_skip_with_every_source_broken_fails_and_writes_nothing(tmp_path, where):
    sites = tmp_path / "sites"
    bad = []
    if where in ("read", "both"):
        bad += [BROKEN["truncated-posts-xml"][0](sites), BROKEN["not-a-7z"][0](sites)]
    if where in ("resolve", "both"):
        bad.append(BROKEN["nameless-not-xml"][0](sites))
    out = tmp_path / "out"
    line = _assert_refused(cli_build(sites, out, *SKIP), out, "nothing left to build",
                           f"all {len(bad)} source(s) failed to parse", "nothing was written")
    for location in bad:
        assert str(location) in line


@slow
def test_skip_still_stops_at_a_dump_that_reads_but_names_no_host(tmp_path):
    """Skip is for content that cannot be parsed: a fine dump whose host cannot be told needs --site."""
    sites = _good_sites(tmp_path / "sites")
    nameless = _write(sites / "plain-2019" / "Posts.xml", _posts(4))
    out = tmp_path / "out"
    _assert_refused(cli_build(sites, out, *SKIP), out, str(nameless), "cannot tell which site", "--site")


@slow
def test_skip_reports_a_skipped_source_that_cannot_even_be_read(tmp_path, monkeypatch, good_alone):
    """The checksums are computed beside pass 1: a skipped source that cannot be read for them
    (here: describe() fails as for a file that cannot be opened) is still reported, without them."""
    sites = _good_sites(tmp_path / "sites")
    bad = BROKEN["not-a-7z"][0](sites)
    original = ArchiveSource.describe

    def describe(self):
        if self.location == str(bad):
            raise PermissionError(13, "Permission denied", self.location)
        return original(self)

    monkeypatch.setattr(ArchiveSource, "describe", describe)
    out = tmp_path / "out"
    manifest = _built(cli_build(sites, out, *SKIP), out)
    [entry] = manifest["skipped_sources"]
    assert entry["location"] == bad.name and entry["bytes"] is None and entry["sha256"] is None
    assert "not a readable .7z archive" in entry["reason"]
    assert _data(out) == _data(good_alone)


def _symlink_real(folder: Path, real: str) -> None:
    folder.mkdir(parents=True)
    (folder / "Posts.xml").symlink_to(SHARED_SITES / real / "Posts.xml")


REAL_GOOD = {"beer.stackexchange.com-2016": "beer-2016", "datascience-meta-2024": "datascience-meta-2024",
             "cardano.stackexchange.com": "cardano-2021"}


@slow
@needs_shared
@pytest.mark.parametrize("broken", ["newer-dump-of-a-good-site", "another-site"])
def test_skip_among_real_dumps_equals_the_good_ones_alone(tmp_path, monkeypatch, broken):
    """Three real dumps and one broken one in a folder of sites, built with two workers in small
    byte ranges, so the broken dump's first ranges are read and spilled before its last one fails.
    `newer-dump-of-a-good-site`: beer-2017 cut short, beside beer-2016: had its keys (its later
    dates) reached the plan, it would supersede beer-2016."""
    monkeypatch.setattr(posts_xml, "FRAGMENT_BYTES", 256 << 10)
    good, mixed = tmp_path / "good", tmp_path / "mixed"
    for name, real in REAL_GOOD.items():
        _symlink_real(good / name, real)
        _symlink_real(mixed / name, real)
    if broken == "newer-dump-of-a-good-site":
        bad = _write(mixed / "beer.stackexchange.com-2017" / "Posts.xml",
                     _truncated((SHARED_SITES / "beer-2017" / "Posts.xml").read_bytes()))
        site, says = "beer.stackexchange.com", "is it truncated?"
    else:
        data = (SHARED_SITES / "matheducators-2014" / "Posts.xml").read_bytes()
        first = data.index(b"\n") + 1
        bad = _write(mixed / BAD / "Posts.xml", data[:first] + b"<!DOCTYPE posts [<!ENTITY x 'y'>]>\n" + data[first:])
        site, says = BAD, "line 2: a DTD with an internal subset"
    if broken == "newer-dump-of-a-good-site":
        assert len(posts_xml.byte_ranges(bad.stat().st_size)) > 3  # it fails in its last range

    a, b = tmp_path / "out-good", tmp_path / "out-mixed"
    alone = _built(cli_build(good, a, "-j", "2"), a)
    skipped = _built(cli_build(mixed, b, "-j", "2", *SKIP), b)
    assert _data(a) == _data(b)
    assert skipped["counts"] == alone["counts"]
    assert [(i["site"], i["sha256"], i["first_post"], i["last_post"]) for i in skipped["inputs"]] == [
        (i["site"], i["sha256"], i["first_post"], i["last_post"]) for i in alone["inputs"]]
    [entry] = skipped["skipped_sources"]
    shown = f"{bad.parent.name}/Posts.xml"  # as the card names it: no local absolute path
    assert entry["location"] == shown and entry["site"] == site and entry["kind"] == "posts_xml"
    assert entry["reason"].startswith(shown) and says in entry["reason"]
    assert entry["sha256"] == hashlib.sha256(bad.read_bytes()).hexdigest()
    card = (b / "README.md").read_text(encoding="utf-8")
    assert f"`{bad.parent.name}/Posts.xml` ({site}, posts_xml, sha256 {entry['sha256'][:16]}…)" in card
    assert str(tmp_path) not in card
