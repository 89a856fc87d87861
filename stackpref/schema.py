"""Column names and dtypes, defined once: the canonical posts table and the two output tables."""

import pyarrow as pa

QUESTION = 1
ANSWER = 2

# Every reader yields record batches of exactly this schema, bodies as the source has them
# (HTML in a dump); pass 1 converts them to Markdown in the workers.
POSTS = pa.schema(
    [
        ("site", pa.string()),  # host name, e.g. "beer.stackexchange.com"
        ("post_id", pa.int64()),
        ("post_type", pa.int8()),  # QUESTION or ANSWER; other types are counted and skipped
        ("parent_id", pa.int64()),  # answers: the question's post_id
        ("accepted_answer_id", pa.int64()),  # questions
        ("creation_date", pa.string()),  # ISO 8601 as in the dump
        ("score", pa.int64()),  # net votes; null when the source has only pm_score
        ("pm_score", pa.int64()),  # given by the stack-exchange-preferences layout, else null
        ("accepted", pa.bool_()),  # given by the preferences layout, else derived from the question
        ("title", pa.string()),
        ("body", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("owner_user_id", pa.int64()),
        ("owner_display_name", pa.string()),
        ("license", pa.string()),
        ("source", pa.string()),  # the input it came from, for error messages and the manifest
    ]
)

# What pass 1 adds to each spilled row: the Markdown text the later steps use (question: title +
# body; answer: body), its stable hash, and a question's LSH band keys (empty for answers).
SPILL_EXTRA = [("text", pa.string()), ("text_hash", pa.int64()), ("bands", pa.list_(pa.uint32()))]
SPILLED_POSTS = pa.schema([*POSTS, *SPILL_EXTRA])
# What pass 2 adds: the question's duplicate-link group (questions a site's PostLinks.xml joins share
# it; null for a question no resolved duplicate link touches).
ROUTED_POSTS = pa.schema([*SPILLED_POSTS, ("link_group", pa.int64())])

# Pairs given ready-made by the stack-exchange-paired layout (chosen = response_j).
GIVEN_PAIRS = pa.schema(
    [
        ("site", pa.string()),
        ("question_id", pa.int64()),
        ("question", pa.string()),
        ("creation_date", pa.string()),
        ("chosen", pa.string()),
        ("rejected", pa.string()),
        ("source", pa.string()),
    ]
)

_PROVENANCE = [
    ("question_url", pa.string()),
    ("license", pa.string()),
    ("cluster_id", pa.string()),
    ("split", pa.string()),
]

PAIRS = pa.schema(
    [
        ("prompt", pa.string()),
        ("chosen", pa.string()),
        ("rejected", pa.string()),
        ("site", pa.string()),
        ("question_id", pa.int64()),
        ("chosen_id", pa.int64()),
        ("rejected_id", pa.int64()),
        ("chosen_score", pa.int64()),
        ("rejected_score", pa.int64()),
        ("chosen_pm_score", pa.int64()),
        ("rejected_pm_score", pa.int64()),
        ("chosen_accepted", pa.bool_()),
        ("rejected_accepted", pa.bool_()),
        ("margin", pa.int64()),
        ("prompt_length", pa.int64()),  # tokens with --tokenizer, else characters
        ("chosen_length", pa.int64()),
        ("rejected_length", pa.int64()),
        ("question_author", pa.string()),
        ("chosen_author", pa.string()),
        ("rejected_author", pa.string()),
        *_PROVENANCE,
        ("chosen_creation_date", pa.string()),  # as the dump writes it; null for ready-made pairs
        ("rejected_creation_date", pa.string()),
    ]
)

SFT = pa.schema(
    [
        ("prompt", pa.string()),
        ("completion", pa.string()),
        ("site", pa.string()),
        ("question_id", pa.int64()),
        ("answer_id", pa.int64()),
        ("score", pa.int64()),
        ("pm_score", pa.int64()),
        ("accepted", pa.bool_()),
        ("prompt_length", pa.int64()),
        ("completion_length", pa.int64()),
        ("question_author", pa.string()),
        ("answer_author", pa.string()),
        *_PROVENANCE,
    ]
)

OUTPUT_SCHEMAS = {"pairs": PAIRS, "sft": SFT}

# `--format conversational`: TRL's conversational format, the texts as message lists (prompt: an
# optional system turn and the user turn; chosen, rejected, completion: the assistant turn), the
# metadata columns as in the standard format.
# "element": the list item name Parquet writes and reads back (pyarrow's compliant nested types).
MESSAGES = pa.list_(pa.field("element", pa.struct([("role", pa.string()), ("content", pa.string())])))
MESSAGE_COLUMNS = {"pairs": ("prompt", "chosen", "rejected"), "sft": ("prompt", "completion")}


def output_schemas(output_format: str | None = "standard") -> dict[str, pa.Schema]:
    """The output schemas of a build's format (None, from a manifest written before formats: standard)."""
    if output_format in (None, "standard"):
        return OUTPUT_SCHEMAS
    return {name: pa.schema([pa.field(f.name, MESSAGES) if f.name in MESSAGE_COLUMNS[name] else f for f in schema])
            for name, schema in OUTPUT_SCHEMAS.items()}


def hub_features(schema: pa.Schema) -> list[dict]:
    """The dataset card's `features`: a dtype per column, a message list as the Hub's `list` of fields."""
    def feature(name: str, kind: pa.DataType) -> dict:
        if pa.types.is_list(kind) and pa.types.is_struct(kind.value_type):
            return {"name": name, "list": [feature(f.name, f.type) for f in kind.value_type]}
        return {"name": name, "dtype": str(kind)}

    return [feature(f.name, f.type) for f in schema]
