"""Which site a dump is: its links to its own questions, a host-named archive or folder, `--site`;
never a host guessed from a name that is not one (its URLs would lead nowhere)."""

import json
from pathlib import Path

import polars as pl
import pytest
from conftest import SHARED_SITES, needs_shared
from helpers import cli_build, dump_row, one_error_line, posts_xml, read_config

from stackpref.errors import ConfigError, InputError
from stackpref.sources import host_from_name, resolve, resolve_all, sites
from stackpref.sources.sites import SAMPLE_SITE, SiteOverrides, host_from_links

py7zr = pytest.importorskip("py7zr")

REAL_HOSTS = {
    "beer-2016": "beer.stackexchange.com",
    "beer-2017": "beer.stackexchange.com",
    "cardano-2021": "cardano.stackexchange.com",
    "datascience-meta-2024": "datascience.meta.stackexchange.com",
    "matheducators-2014": "matheducators.stackexchange.com",
    "quantumcomputing-2018": "quantumcomputing.stackexchange.com",
}
BOTH_SPLITS = ["--split", "sft=0,train=0.5,test=0.5"]

TITLES = {1: "How long should bread dough rest before shaping?", 5: "Why does my sourdough starter smell of acetone?",
          9: "Can I freeze pizza dough after the first rise?"}

ANSWERS = ["Give it twenty minutes under a damp towel; the gluten relaxes and it stops tearing.",
           "Add a spoon of flour, knead briefly, then leave it alone in a warm corner.",
           "Feed it twice a day at equal weights of flour and water and the smell goes away within days.",
           "That smell means hunger: discard half and feed it more often, ideally with whole wheat flour.",
           "Yes, wrap each ball tightly in oil and film; it keeps a month and thaws overnight in the fridge.",
           "Freezing kills some yeast, so expect a slower second rise and give it an extra hour."]


def _slug(title: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split())


def _rows(bodies: dict[int, str] | None = None) -> list[str]:
    """Three questions with two answers each; `bodies`: extra HTML for the answer with that id."""
    rows = []
    for qid, title in TITLES.items():
        rows.append(dump_row(Id=qid, PostTypeId=1, AcceptedAnswerId=qid + 1, CreationDate=f"2020-03-0{qid}T10:00:00.000",
                             Score=5, Title=title, Body=f"<p>{title} I tried twice.</p>", OwnerUserId=7,
                             Tags="<bread>", AnswerCount=2, ContentLicense="CC BY-SA 4.0"))
        for aid, score in ((qid + 1, 9), (qid + 2, 1)):
            extra = (bodies or {}).get(aid, "")
            rows.append(dump_row(Id=aid, PostTypeId=2, ParentId=qid, CreationDate=f"2020-03-0{qid}T11:00:00.000",
                                 Score=score, Body=f"<p>{ANSWERS[aid % len(ANSWERS)]}</p>{extra}", OwnerUserId=aid,
                                 ContentLicense="CC BY-SA 4.0"))
    return rows


def _link(host: str, qid: int, slug: str | None = None, form: str = "questions") -> str:
    tail = f"/{slug}" if slug is not None else ""
    return f'<p>See <a href="https://{host}/{form}/{qid}{tail}">this</a>.</p>'


def _self_links(host: str) -> dict[int, str]:
    """Answers linking two of the dump's own questions, slug and all."""
    return {2: _link(host, 5, _slug(TITLES[5])), 7: _link(host, 9, _slug(TITLES[9]))}


def _write(folder: Path, rows: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Posts.xml").write_text(posts_xml(rows), encoding="utf-8")
    return folder / "Posts.xml"


def _write_7z(path: Path, rows: list[str]) -> Path:
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.writestr(posts_xml(rows).encode(), "Posts.xml")
    return path



# --- the real dumps ------------------------------------------------------------------------------


@needs_shared
def test_every_real_dump_gets_its_host_from_its_own_links():
    """Their folders (beer-2017, datascience-meta-2024, ...) name no host: the links say it."""
    found = {Path(s.location).parent.name: s.site for s in resolve(str(SHARED_SITES))}
    assert found == {name: host for name, host in REAL_HOSTS.items() if (SHARED_SITES / name).is_dir()}
    assert found["beer-2016"] == found["beer-2017"]  # two dumps of one site: one host, so one supersedes


@needs_shared
def test_a_meta_dump_is_not_taken_for_the_main_site_it_links_more():
    """datascience-meta-2024 links datascience.stackexchange.com more often than itself; those links'
    slugs do not match its own questions' titles, so they do not count."""
    posts = SHARED_SITES / "datascience-meta-2024" / "Posts.xml"
    text = posts.read_text(encoding="utf-8-sig")
    assert text.count("https://datascience.stackexchange.com/") > text.count("https://datascience.meta.stackexchange.com/")
    assert host_from_links(sites.file_head(str(posts)), str(posts)) == "datascience.meta.stackexchange.com"


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "host"), [
    ("cooking.stackexchange.com", "cooking.stackexchange.com"),
    ("Cooking.StackExchange.com", "cooking.stackexchange.com"),
    ("beer.stackexchange.com-2016", "beer.stackexchange.com"),
    ("beer.stackexchange.com_2016-03-01", "beer.stackexchange.com"),
    ("beer.stackexchange.com.7z", "beer.stackexchange.com"),
    ("stackoverflow.com-Posts.7z", "stackoverflow.com"),
    ("mathoverflow.net.7z", "mathoverflow.net"),
    ("coffee.sample.invalid", "coffee.sample.invalid"),
    ("beer-2017", None), ("corpus200", None), ("se-genai-2023", None), ("site", None), ("superuser", None),
    ("1.2.3.4", None), ("dump.v2", None), ("-bad.example.org", None), ("a..b.org", None), ("corpus200.7z", None),
])
def test_host_names(name, host):
    assert host_from_name(name) == host


def test_a_host_named_folder_and_archive_are_taken_as_they_are(tmp_path):
    """No self-links in these dumps: the names say it."""
    _write(tmp_path / "cooking.example.org", _rows())
    assert resolve(str(tmp_path / "cooking.example.org"))[0].site == "cooking.example.org"
    assert resolve(str(tmp_path / "cooking.example.org" / "Posts.xml"))[0].site == "cooking.example.org"
    _write(tmp_path / "dated" / "beer.stackexchange.com-2016", _rows())
    assert resolve(str(tmp_path / "dated"))[0].site == "beer.stackexchange.com"
    archive = _write_7z(tmp_path / "beer.stackexchange.com.7z", _rows())
    assert resolve(str(archive))[0].site == "beer.stackexchange.com"
    archive = _write_7z(tmp_path / "stackoverflow.com-Posts.7z", _rows())
    assert resolve(str(archive))[0].site == "stackoverflow.com"


def test_an_archive_name_outranks_its_links(tmp_path):
    archive = _write_7z(tmp_path / "beer.stackexchange.com.7z", _rows(_self_links("alcohol.stackexchange.com")))
    assert resolve(str(archive))[0].site == "beer.stackexchange.com"


def test_self_links_name_the_host_of_a_folder_and_of_an_archive_that_do_not(tmp_path):
    rows = _rows(_self_links("cooking.stackexchange.com"))
    assert resolve(str(_write(tmp_path / "corpus200", rows)))[0].site == "cooking.stackexchange.com"
    assert resolve(str(_write_7z(tmp_path / "dump.7z", rows)))[0].site == "cooking.stackexchange.com"
    # `/q/ID/USER` share links and `http://` count only by the slug: a share link has none
    share = {2: _link("cooking.stackexchange.com", 5, "7", form="q"), 7: _link("cooking.stackexchange.com", 9, "7", "q")}
    with pytest.raises(InputError, match="--site"):
        resolve(str(_write(tmp_path / "shares", _rows(share))))
    plain = {aid: html.replace("https://", "http://") for aid, html in _self_links("cooking.stackexchange.com").items()}
    assert resolve(str(_write(tmp_path / "plain-http", _rows(plain))))[0].site == "cooking.stackexchange.com"


def test_one_verified_link_is_not_enough(tmp_path):
    one = {2: _link("cooking.stackexchange.com", 5, _slug(TITLES[5]))}
    with pytest.raises(InputError, match="--site"):
        resolve(str(_write(tmp_path / "se-genai-2023", _rows(one))))


def test_links_to_another_site_do_not_make_the_dump_that_site(tmp_path):
    """A dump that links another site far more than itself, with ids that are questions here too:
    those links' slugs name the other site's questions, not these, so they do not count."""
    other = "cooking.stackexchange.com"
    links = "".join(_link(other, qid, f"what-about-question-{qid}-over-there") for qid in TITLES)
    shares = "".join(_link(other, qid, "12", form="q") for qid in TITLES)  # share links: no slug to check
    bodies = {aid: links + shares for aid in (2, 3, 6, 7, 10, 11)}
    with_self = {**bodies, 2: bodies[2] + _self_links("cooking.meta.stackexchange.com")[2],
                 7: bodies[7] + _self_links("cooking.meta.stackexchange.com")[7]}
    assert resolve(str(_write(tmp_path / "meta-2024", _rows(with_self))))[0].site == "cooking.meta.stackexchange.com"
    out = tmp_path / "out"
    result = cli_build(_write(tmp_path / "corpus200", _rows(bodies)).parent, out)  # no self-links at all
    assert other not in one_error_line(result, InputError.exit_code).split("host name")[1]
    assert not out.exists()
    # a host-named folder keeps its name whatever else it links
    assert resolve(str(_write(tmp_path / "baking.example.org", _rows(bodies))))[0].site == "baking.example.org"


def test_only_the_head_of_a_dump_is_read_for_links(tmp_path, monkeypatch):
    rows = _rows(_self_links("cooking.stackexchange.com"))
    posts = _write(tmp_path / "corpus200", rows)
    head = posts.read_bytes().index(b'Id="7"')  # the second self-link lies beyond the head
    monkeypatch.setattr(sites, "PRESCAN_BYTES", head + 10)
    with pytest.raises(InputError, match="--site"):
        resolve(str(posts))
    monkeypatch.setattr(sites, "PRESCAN_BYTES", len(posts.read_bytes()) - 20)
    assert resolve(str(posts))[0].site == "cooking.stackexchange.com"


@pytest.mark.parametrize("folder", ["corpus200", "se-genai-2023"])
def test_a_dump_without_a_host_stops_with_the_site_option(tmp_path, folder):
    src = _write(tmp_path / folder, _rows()).parent
    out = tmp_path / "out"
    line = one_error_line(cli_build(src, out), InputError.exit_code)
    assert str(src) in line and f"--site {src}=HOST" in line and repr(folder) in line
    assert not out.exists()
    # named by --site, it builds
    assert cli_build(src, out, "--site", f"{src}=genai.stackexchange.com", *BOTH_SPLITS).exit_code == 0
    urls = read_config(out, "pairs")["question_url"].unique().to_list()
    assert urls and all(u.startswith("https://genai.stackexchange.com/questions/") for u in urls)


def test_a_broken_dump_keeps_the_error_of_its_read(tmp_path):
    """The head does not parse to the end: the links before the break still name the site, and the
    build reports what is wrong with the file, as it would with a host-named folder."""
    text = posts_xml(_rows(_self_links("cooking.stackexchange.com")))
    src = tmp_path / "corpus200" / "Posts.xml"
    src.parent.mkdir()
    src.write_text(text[: text.index("</posts>")], encoding="utf-8")
    line = one_error_line(cli_build(src, tmp_path / "out"), InputError.exit_code)
    assert "truncated" in line and "--site" not in line


# --- --site ----------------------------------------------------------------------------------------


def test_site_option_names_the_dump_by_posts_folder_or_archive(tmp_path):
    posts = _write(tmp_path / "corpus200", _rows(_self_links("cooking.stackexchange.com")))
    archive = _write_7z(tmp_path / "dump.7z", _rows())
    for given in (posts, posts.parent, tmp_path / "corpus200" / ".." / "corpus200"):
        found = resolve_all([str(posts.parent)], [f"{given}=baking.example.org"])
        assert [s.site for s in found] == ["baking.example.org"]  # over its own links
    found = resolve_all([str(tmp_path)], [f"{archive}=bread.example.org", f"{posts}=baking.example.org"])
    assert sorted((Path(s.location).name, s.site) for s in found) == [
        ("Posts.xml", "baking.example.org"), ("dump.7z", "bread.example.org")]
    named = _write_7z(tmp_path / "beer.stackexchange.com.7z", _rows())
    assert resolve_all([str(named)], [f"{named}=alcohol.stackexchange.com"])[0].site == "alcohol.stackexchange.com"


def test_site_option_through_the_cli_reaches_the_manifest_and_urls(tmp_path):
    src = _write(tmp_path / "corpus200", _rows())
    out = tmp_path / "out"
    result = cli_build(src.parent, out, "--site", f"{src.parent}=Bread.Example.org", *BOTH_SPLITS)
    assert result.exit_code == 0, result.output
    assert [i["site"] for i in json.loads((out / "manifest.json").read_text())["inputs"]] == ["bread.example.org"]
    pairs = read_config(out, "pairs")
    assert pairs["question_url"].str.starts_with("https://bread.example.org/questions/").all()
    authors = pairs["chosen_author"].drop_nulls()
    assert len(authors) and authors.str.starts_with("https://bread.example.org/users/").all()


def test_a_site_option_that_names_no_dump_is_an_error(tmp_path):
    src = _write(tmp_path / "cooking.example.org", _rows())
    out = tmp_path / "out"
    typo = tmp_path / "cooking.example.or"
    line = one_error_line(cli_build(src, out, "--site", f"{typo}=cooking.example.org"), ConfigError.exit_code)
    assert f"--site {typo}=cooking.example.org" in line and "no dump" in line
    assert not out.exists()
    # the typo is what is reported, not the dump it failed to name
    nameless = _write(tmp_path / "corpus200", _rows())
    line = one_error_line(cli_build(nameless.parent, out, "--site", f"{tmp_path / 'corpus20'}=a.example.org"),
                           ConfigError.exit_code)
    assert "corpus20=a.example.org" in line and "no dump" in line
    # a table source is not a dump: --site does not name it; nor the bundled sample, built when no source is given
    table = tmp_path / "paired.jsonl"
    table.write_text("")
    with pytest.raises(ConfigError, match="no dump"):
        resolve_all([str(table)], [f"{table}=cooking.example.org"])
    with pytest.raises(ConfigError, match="no dump"):
        resolve_all([], [f"{src}=cooking.example.org"])


@pytest.mark.parametrize("host", ["corpus200", "http://cooking.example.org", "cooking.example.org/x", "bad_host.org",
                                  "cooking.example.123"])
def test_a_site_option_host_must_be_a_host_name(tmp_path, host):
    with pytest.raises(ConfigError, match="not a host name"):
        SiteOverrides([f"{tmp_path}={host}"])
    result = cli_build(tmp_path, tmp_path / "out", "--site", f"{tmp_path}={host}")
    assert "not a host name" in one_error_line(result, ConfigError.exit_code)


def test_a_site_option_without_a_host_is_refused_by_the_config(tmp_path):
    result = cli_build(tmp_path, tmp_path / "out", "--site", str(tmp_path))
    assert "PATH=HOST" in one_error_line(result, ConfigError.exit_code)


# --- the bundled sample ----------------------------------------------------------------------------


def test_the_sample_is_a_made_up_site_that_links_nowhere_real(sample_build):
    assert SAMPLE_SITE.endswith(".invalid")
    text = sites.bundled_sample().read_text(encoding="utf-8-sig")
    assert "stackexchange.com" not in text and "stackoverflow.com" not in text
    manifest = json.loads((sample_build / "manifest.json").read_text())
    assert [i["site"] for i in manifest["inputs"]] == [SAMPLE_SITE]
    for config in ("pairs", "sft"):
        frame = read_config(sample_build, config)
        assert frame["question_url"].str.starts_with(f"https://{SAMPLE_SITE}/questions/").all()
        links = pl.concat([frame[c] for c in frame.columns if c.endswith("author")]).drop_nulls()
        links = links.filter(links.str.starts_with("http"))
        assert len(links) and links.str.starts_with(f"https://{SAMPLE_SITE}/users/").all()
    # its own folder is host-named: given as a path, it is the same site
    assert resolve(str(sites.bundled_sample().parent))[0].site == SAMPLE_SITE
