"""What kind of answer a question asks for, and whether a sentence holds one.

"how tall is it?" shares no word with "It stands 38 metres above the harbour.", but it asks for a
length and the sentence holds one. Retrieval uses this to rank the sentences of a note, and the
chat to notice when the best sentence cannot answer ("who ..." of a sentence that names nobody).

A kind is a pair of patterns: one that recognises the question, one that recognises an answer.
`kinds_asked` lists every kind a question matches (most specific first); `holds` says whether
a sentence holds any of them. Plain English patterns: nothing here is learned or tuned per folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tinychat import rules

NUMBER = (
    r"(\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|hundred|thousand|dozen|half|a few|several)\b)"
)
LENGTH_UNITS = r"(mm|cm|m|km|metres?|meters?|kilometres?|miles?|feet|foot|ft|inch(es)?|yards?)"
WEIGHT_UNITS = r"(g|kg|grams?|kilos?|kilograms?|tonnes?|tons?|lbs?|ounces?|oz|stone)"
TIME_UNITS = (
    r"(sec(ond)?s?|min(ute)?s?|hours?|hrs?|days?|nights?|weeks?|fortnights?|months?|years?|"
    r"decades?|centur(y|ies))"
)
DAYS = (
    r"(mon|tues|wednes|thurs|fri|satur|sun)days?|weekdays?|weekends?|tue|tues|wed|thu|thur|thurs|"
    r"fri|(mon|sat|sun)(?= \d)"  # "Thu 15", "Sat 10": a day written short
)
MONTHS = (
    r"(january|february|march|april|may|june|july|august|september|october|november|december|"
    r"jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)"
)
SEASONS = r"(spring|summer|autumn|fall|winter|christmas|easter)"
COLOURS = (
    r"(red|orange|yellow|green|blue|purple|violet|pink|brown|black|white|grey|gray|silver|gold|"
    r"golden|cream|navy|maroon|crimson|scarlet|amber|turquoise|beige)"
)
MATERIALS = (
    r"(wood|wooden|oak|ash|pine|beech|elm|birch|larch|cedar|willow|chestnut|yew|walnut|teak|maple|"
    r"timber|iron|steel|brass|copper|bronze|tin|zinc|lead|silver|gold|stone|granite|slate|"
    r"sandstone|limestone|marble|brick|glass|clay|wool|cotton|linen|silk|leather|bone|horn|ivory|"
    r"plastic|concrete|paper|cardboard|rope|cane|reed)"
)
PLACE_WORDS = (
    r"(street|road|lane|avenue|square|hall|room|church|chapel|cupboard|shed|garage|station|harbour|"
    r"quay|pier|village|town|city|park|hill|field|shop|market|school|library|office|kitchen|"
    r"garden|cellar|attic|loft|drawer|shelf|box|desk|island|bay|coast|river|valley|inn|pub)"
)


@dataclass(frozen=True)
class Kind:
    name: str
    question: re.Pattern
    answer: re.Pattern

    @property
    def noun(self) -> str:
        """What an answer of this kind is called, for a reader: "phone number", "time"."""
        return NOUNS.get(self.name, self.name)


NOUNS = {
    "phone": "phone number", "time": "time of day", "frequency": "how often", "count": "number",
    "person": "name", "date": "date or day",
}  # fmt: skip


def _kind(name: str, question: str, answer: str, case_matters: bool = False) -> Kind:
    """A kind; `case_matters` for answers told by capitals (a name, a place), where word lists
    use (?i:...)."""
    return Kind(
        name,
        re.compile(question, re.IGNORECASE),
        re.compile(answer, 0 if case_matters else re.IGNORECASE),
    )


KINDS = [  # most specific first
    _kind(
        "price",
        r"\bhow much (does|do|is|are|will|would|did) .*(cost|pay|charge)|"
        r"\b(price|cost|costs|fee|fees|fare|charge|pay|afford|money|spend|spent|worth|budget)\b|"
        r"\bhow much (is|are) (it|they|a|an|the)\b",
        r"[£$€¥]\s?\d|\b\d+(\.\d+)?\s?(p|pence|pounds?|dollars?|euros?|quid|cents?)\b|"
        r"\bfree\b|\bcosts?\b|\bcharge",
    ),
    _kind("colour", r"\bcolou?rs?\b|\bwhat shade\b", r"\b" + COLOURS + r"\b"),
    _kind(
        "material",
        r"\bmade (of|from|out of)\b|"
        r"\bwhat (wood|timber|material|metal|stone|fabric|kind of wood)\b|"
        r"\b(built|carved|cut|cast|woven) (of|from|out of)\b",
        r"\b" + MATERIALS + r"\b",
    ),
    _kind(
        "phone",
        r"\b(phone|telephone|mobile|ring|call|dial|number for|contact)\b",
        r"\b(\d[ -]?){5,}\d\b",  # six digits or more, spaced or not: never a year
    ),
    _kind(
        "code",
        r"\b(code|pin|password|passcode|combination|registration|reg|postcode|key for|login|"
        r"account)\b",
        r"\b[A-Za-z]*\d[A-Za-z0-9_\-]{2,}\b|\b[A-Z][A-Za-z0-9]*_[A-Za-z0-9]+\b|:\s*\S+$",
    ),
    _kind(
        "time",
        r"\bwhat time\b|\bhow (early|late)\b|"
        r"\b(open|opens|close|closes|start|starts|leave|leaves|depart|arrive|arrives|begin|begins|"
        r"finish|finishes|last|first)\b.*\bwhen\b|"
        r"\bwhen .*\b(open|close|start|leave|depart|arrive|begin|finish|chime|ring)",
        r"\b\d{1,2}[:.]\d{2}\b|\b\d{1,2}\s?(a\.?m\.?|p\.?m\.?)|"
        r"\b(noon|midday|midnight|o'clock|dawn|dusk)\b",
    ),
    _kind(
        "frequency",
        r"\bhow (often|frequent|frequently|regularly)\b|\bhow many times\b|"
        r"\bwhat days?\b.*\b(every|each)\b",
        r"\bevery\b|\beach\b|\bonce\b|\btwice\b|"
        r"\b(daily|nightly|weekly|monthly|yearly|annually|fortnightly|hourly)\b|"
        r"\btimes an? \b|\ba (day|week|month|year)\b|\bper (day|week|month|year)\b",
    ),
    _kind(
        "year",
        r"\b(what|which) year\b|\bhow old\b|"
        r"\bwhen (was|were|did) .*\b(built|founded|opened|made|started|set up|born|died|lit|first|"
        r"put up|begun|established|formed|installed|completed|finished)\b|\bsince when\b",
        r"\b(1[0-9]{3}|20[0-9]{2})\b|\b\d+ years?\b|\bcentury\b",
    ),
    _kind(
        "date",
        r"\bwhen\b|\bwhat (day|date|month)s?\b|\bwhich (day|date|month|night|evening)s?\b|"
        r"\bwhat night\b|\bwhat season\b",
        r"\b(" + DAYS + "|" + MONTHS + "|" + SEASONS + r")\b|\b\d{1,2}(st|nd|rd|th)\b|"
        r"\b(1[0-9]{3}|20[0-9]{2})\b|"
        r"\b(today|tomorrow|tonight|morning|evening|night|weekly|every|each)\b|"
        r"\b\d{1,2}[:.]\d{2}\b",
    ),
    # A measure: "how high" wants a length, "how long does it take" a duration; "how long is it",
    # "how big" or "how heavy" may be any size (a weight on its own ranked no set better).
    _kind(
        "temperature",
        r"\bhow (hot|cold|warm)\b|\bwhat (temperature|temp)\b|\bwhich (temperature|setting)\b|"
        r"\b(temperature|degrees)\b",
        NUMBER + r"[\d,.]*\s?(°|degrees?\b|deg\b|C\b|F\b)|\bgas mark \d",
    ),
    _kind(
        "length",
        r"\bhow (high|tall|far|wide|deep|thick)\b|\b(height|length|width|depth|distance)\b",
        NUMBER + r"[\d,.]*\s?(" + LENGTH_UNITS + r"|storeys?|stories|floors?)\b",
    ),
    _kind(
        "duration",
        r"\bhow long (does|do|did|will|would|should|can)\b.*\b(take|last|stay|keep|cook|bake|"
        r"steep|brew|boil|rest|run|wait|need|needs|simmer|roast|soak|charge)\b|"
        r"\bhow long (for|until)\b|"
        r"\bhow many (seconds|minutes|hours|days|weeks|months)\b",
        NUMBER + r"[\d,.]*\s?" + TIME_UNITS + r"\b",
    ),
    _kind(
        "size",
        r"\bhow (long|big|large|fast|heavy)\b|\b(size|speed|capacity|area|weigh|weighs|weight)\b",
        NUMBER + r"[\d,.]*\s?(" + LENGTH_UNITS + "|" + WEIGHT_UNITS + "|" + TIME_UNITS
        + r"|%|percent|mph|knots|litres?|liters?|ml|pints?|gallons?|acres?|hectares?|storeys?|"
        r"stories|floors?|degrees?|°)\b",
    ),
    _kind(
        "count",
        r"\bhow (many|much)\b|\bwhat (number|amount|quantity|percentage)\b|\bhow old\b",
        NUMBER,
    ),
    _kind(
        "person",
        r"\bwho\b|\bwhose\b|\bwhom\b|\bwhat('s| is) (the|his|her|their|my|our) (name|surname)\b|"
        r"\b(name of|called) (the|his|her|my|our) \w+\b|"
        r"\bwhich (person|man|woman|family|firm|company|make|brand)\b|\bwhat (make|brand)\b",
        r"\b(Dr|Mr|Mrs|Ms|Miss|Prof|Sir|Lady)\b\.?|"
        # a capitalised word inside the sentence, but not a day or a month ("in April")
        r"(?<!^)(?<![.!?] )\b(?!(?i:" + DAYS + "|" + MONTHS + r")\b)[A-Z][a-z]+|"
        r"(?i:\b(family|firm|company)\b)",
        case_matters=True,
    ),
    _kind(
        "place",
        r"\bwhere\b|"
        r"\bwhich (town|village|city|street|road|room|place|shop|island|country|county|building)\b|"
        r"\bwhat (town|village|city|street|address|place|room)\b",
        r"(?i:\b(in|at|on|from|near|by|behind|under|inside|outside|opposite|beside|next to|above|"
        r"below|off)\s+(the\s+)?)([A-Z]|\d)|(?i:\b" + PLACE_WORDS + r"\b)",
        case_matters=True,
    ),
]


KINDS_BY_NAME = {kind.name: kind for kind in KINDS}
QUESTION_WORDS = frozenset("what what's which when where who whose whom how".split())
WHAT_IS = re.compile(r"\bwhat(?:'s| is| are| was| were) (?:the |a |an |my |our |your |their )?$")


def kinds_asked(question: str) -> list[Kind]:
    """Every kind of answer `question` asks for, most specific first ("how tall" -> size, count)."""
    return [
        kind
        for kind in KINDS
        if rules.active(f"kind_{kind.name}") and kind.question.search(question)
    ]


def demands(kind: Kind, question: str) -> bool:
    """Whether `question` asks for an answer of `kind`, rather than only naming it: the phrase
    that asks starts with a question word ("what temperature ...", "how much does ... cost"),
    follows "what is the" ("what's the price of a ticket?") or ends the question but for a word
    ("what's the gym's phone number?"), where "what does temperature 0 mean?" only names one."""
    asked = question.lower().strip().rstrip("?!. ")
    return any(
        match.group().split(" ", 1)[0] in QUESTION_WORDS
        or WHAT_IS.search(asked[: match.start()])
        or len(asked[match.end() :].split()) <= 1
        for match in kind.question.finditer(asked)
    )


def holds(sentence: str, kinds: list[Kind]) -> float:
    """How well `sentence` holds what is asked: 1 for the most specific kind, 0.5 for another,
    else 0."""
    for rank, kind in enumerate(kinds):
        if kind.answer.search(sentence):
            return 1.0 if rank == 0 else 0.5
    return 0.0
