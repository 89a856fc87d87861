import xxhash

from stackpref.steps.prompts import split_template
from stackpref.steps.text import html_to_md, normalize_for_hash, text_hash

BODY = (
    "<p>Use <code>a_b * c</code> with $x_1 * y_2 = \\frac{a}{b}$ at the caf\u00e9 &amp; not &lt;3</p>\n"
    "<pre><code>if temp &lt; 93 &amp;&amp; ok:\n    print(\"  two  spaces  \")\n\n    return *args\n</code></pre>\n"
    "<blockquote><p>quoted <a href=\"https://example.org/a_b\">a link</a></p></blockquote>\n"
    "<ul><li>one</li><li>two <em>em</em></li></ul>"
)


def test_markdown_keeps_code_latex_links_lists_quotes():
    md = html_to_md(BODY)
    assert "```\nif temp < 93 && ok:\n    print(\"  two  spaces  \")\n\n    return *args\n```" in md
    assert "`a_b * c`" in md
    assert "$x_1 * y_2 = \\frac{a}{b}$" in md  # no escaping inside LaTeX
    assert "café & not <3" in md  # entities decoded
    assert "> quoted [a link](https://example.org/a_b)" in md
    assert "- one\n- two *em*" in md


def test_hash_ignores_case_and_spacing_only():
    assert text_hash("How  do I\r\nGrind?") == text_hash("how do i grind?")
    assert text_hash("How do I grind?") != text_hash("How do I grind!")
    assert normalize_for_hash(" A\u00a0B ") == "a b"  # NFKC turns the no-break space into a space


def test_hash_is_stable_across_versions():
    # Stored cluster ids depend on this value: a change here must bump NORMALIZATION_VERSION.
    assert text_hash("What grind size  for a V60?") == -6973680271235409056
    unsigned = xxhash.xxh3_64_intdigest(b"what grind size for a v60?")
    assert text_hash("what grind size for a v60?") == unsigned - (1 << 64)


def test_token_boundary_moves_trailing_space_to_response():
    assert split_template("Question: {question}\n\nAnswer: ", True) == ("Question: ", "\n\nAnswer:", " ")
    assert split_template("Question: {question}\n\nAnswer: ", False) == ("Question: ", "\n\nAnswer: ", "")


def test_fast_converter_equals_public_api():
    import html_to_markdown

    from stackpref.steps.text import _MARKDOWN_OPTIONS

    assert html_to_md(BODY) == html_to_markdown.convert(BODY, _MARKDOWN_OPTIONS).content.strip()
