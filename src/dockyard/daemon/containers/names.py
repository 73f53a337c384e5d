"""Container names: Docker's ``adjective_surname`` generated names, and the name table.

A name is ``[a-zA-Z0-9][a-zA-Z0-9_.-]+`` (Docker's rule), shown with a leading ``/`` in
inspect. Generated names pair an adjective with the surname of a scientist or engineer
(our own lists, in Docker's style); ``boring_wozniak`` is never generated, as in Docker.
"""

from __future__ import annotations

import re
import secrets

from dockyard.errors import AlreadyExists, InvalidArgument

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
MAX_NAME = 255

ADJECTIVES = (
    "admiring", "adoring", "agitated", "amazing", "angry", "awesome", "beautiful", "blissful",
    "bold", "boring", "brave", "busy", "charming", "clever", "compassionate", "competent",
    "condescending", "confident", "cool", "cranky", "crazy", "dazzling", "determined",
    "distracted", "dreamy", "eager", "ecstatic", "elastic", "elated", "elegant", "eloquent",
    "epic", "exciting", "fervent", "festive", "flamboyant", "focused", "friendly", "frosty",
    "funny", "gallant", "gifted", "goofy", "gracious", "great", "happy", "hardcore",
    "heuristic", "hopeful", "hungry", "infallible", "inspiring", "intelligent", "interesting",
    "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid", "magical", "modest",
    "musing", "mystifying", "naughty", "nervous", "nice", "nifty", "nostalgic", "objective",
    "optimistic", "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky",
    "quizzical", "recursing", "relaxed", "reverent", "romantic", "sad", "serene", "sharp",
    "silly", "sleepy", "stoic", "strange", "stupefied", "suspicious", "sweet", "tender",
    "thirsty", "trusting", "unruffled", "upbeat", "vibrant", "vigilant", "vigorous",
    "wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen",
)

SURNAMES = (
    "agnesi", "albattani", "allen", "almeida", "antonelli", "archimedes", "ardinghelli",
    "aryabhata", "austin", "babbage", "banach", "banzai", "bardeen", "bartik", "bassi",
    "beaver", "bell", "benz", "bhabha", "bhaskara", "black", "blackburn", "blackwell", "bohr",
    "booth", "borg", "bose", "bouman", "boyd", "brahmagupta", "brattain", "brown", "buck",
    "burnell", "cannon", "carson", "cartwright", "carver", "cerf", "chandrasekhar",
    "chaplygin", "chatelet", "chatterjee", "chaum", "chebyshev", "clarke", "cohen", "colden",
    "cori", "cray", "curie", "curran", "darwin", "davinci", "dewdney", "dhawan", "diffie",
    "dijkstra", "dirac", "driscoll", "dubinsky", "easley", "edison", "einstein", "elbakyan",
    "elgamal", "elion", "ellis", "engelbart", "euclid", "euler", "faraday", "feistel",
    "fermat", "fermi", "feynman", "franklin", "gagarin", "galileo", "galois", "ganguly",
    "gates", "gauss", "germain", "goldberg", "goldstine", "goldwasser", "golick", "goodall",
    "gould", "greider", "grothendieck", "haibt", "hamilton", "haslett", "hawking",
    "heisenberg", "hellman", "hermann", "herschel", "hertz", "heyrovsky", "hodgkin",
    "hofstadter", "hoover", "hopper", "hugle", "hypatia", "ishizaka", "jackson", "jang",
    "jemison", "jennings", "jepsen", "johnson", "joliot", "jones", "kalam", "kapitsa", "kare",
    "keldysh", "keller", "kepler", "khayyam", "khorana", "kilby", "kirch", "knuth",
    "kowalevski", "lalande", "lamarr", "lamport", "leakey", "leavitt", "lederberg", "lehmann",
    "lewin", "lichterman", "liskov", "lovelace", "lumiere", "mahavira", "margulis",
    "matsumoto", "maxwell", "mayer", "mccarthy", "mcclintock", "mclaren", "mclean", "mcnulty",
    "meitner", "mendel", "mendeleev", "meninsky", "merkle", "mestorf", "mirzakhani",
    "montalcini", "moore", "morse", "moser", "murdock", "napier", "nash", "neumann", "newton",
    "nightingale", "nobel", "noether", "northcutt", "noyce", "panini", "pare", "pascal",
    "pasteur", "payne", "perlman", "pike", "poincare", "poitras", "proskuriakova", "ptolemy",
    "raman", "ramanujan", "rhodes", "ride", "ritchie", "robinson", "roentgen", "rosalind",
    "rubin", "saha", "sammet", "sanderson", "satoshi", "shamir", "shannon", "shaw", "shirley",
    "shockley", "shtern", "sinoussi", "snyder", "solomon", "spence", "stonebraker",
    "sutherland", "swanson", "swartz", "swirles", "taussig", "tesla", "tharp", "thompson",
    "torvalds", "tu", "turing", "varahamihira", "vaughan", "villani", "visvesvaraya",
    "volhard", "wescoff", "wilbur", "wiles", "williams", "williamson", "wilson", "wing",
    "wozniak", "wright", "wu", "yalow", "yonath", "zhukovsky",
)


def validate_name(name: str) -> str:
    """The name without a leading ``/``; ``InvalidArgument`` with Docker's words if bad."""
    bare = name[1:] if name.startswith("/") else name
    if not NAME_RE.match(bare) or len(bare) > MAX_NAME:
        raise InvalidArgument(f"Invalid container name ({name}), only "
                              "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return bare


def generate(retry: int = 0) -> str:
    """A random ``adjective_surname``; with ``retry`` > 0 a digit is appended, as Docker
    does after a collision."""
    while True:
        name = f"{secrets.choice(ADJECTIVES)}_{secrets.choice(SURNAMES)}"
        if name != "boring_wozniak":
            break
    return f"{name}{secrets.randbelow(10)}" if retry else name


class NameTable:
    """Names to container ids; one owner per name (not thread-safe: the event loop's)."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}

    def reserve(self, name: str, container_id: str) -> None:
        owner = self._ids.get(name)
        if owner is not None and owner != container_id:
            raise AlreadyExists(
                f'Conflict. The container name "/{name}" is already in use by container '
                f'"{owner}". You have to remove (or rename) that container to be able to '
                "reuse that name.")
        self._ids[name] = container_id

    def reserve_generated(self, container_id: str) -> str:
        for attempt in range(64):
            name = generate(attempt)
            if name not in self._ids:
                self._ids[name] = container_id
                return name
        raise AlreadyExists("could not generate a free container name")

    def release(self, name: str) -> None:
        self._ids.pop(name, None)

    def get(self, name: str) -> str | None:
        return self._ids.get(name)
