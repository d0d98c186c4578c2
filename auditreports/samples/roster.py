"""Who lives in the sample workspace: staff, API keys, bots and customers.

Every identity is drawn from the seeded generator, so the same seed gives the same
people, addresses and time zones. Addresses use reserved names and networks only:
``@acme.example`` / ``@example.net`` mail domains and the RFC 5737 documentation
ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) for IP addresses.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

WORKSPACE_ID = "ws_1"
STAFF_DOMAIN = "acme.example"
CUSTOMER_DOMAIN = "example.net"

FIRST_NAMES = (
    "Dana", "Priya", "Marco", "Aisha", "Tomás", "Mei", "Jonas", "Fatima", "Liam", "Sofia",
    "Kwame", "Hana", "Diego", "Ingrid", "Ravi", "Chloe", "Mateo", "Noor", "Oskar", "Yuki",
    "Elena", "Samuel", "Amara", "Lucas", "Zara", "Andrei", "Grace", "Hugo", "Isla", "Kofi",
    "Lena", "Nikhil", "Olivia", "Pablo", "Rosa", "Stefan", "Tara", "Umar", "Vera", "Wei",
    "Ximena", "Yusuf", "Anya", "Bruno", "Carmen", "Dmitri", "Esther", "Felix", "Gabriela", "Henrik",
    "Imani", "Jorge", "Keiko", "Leila", "Miguel", "Nadia", "Omar", "Paula", "Quentin", "Rania",
)  # fmt: skip
LAST_NAMES = (
    "Lee", "Patel", "Rossi", "Khan", "García", "Chen", "Berg", "Haddad", "Murphy", "Costa",
    "Mensah", "Sato", "Ramírez", "Larsen", "Iyer", "Martin", "Silva", "Aziz", "Nilsson", "Tanaka",
    "Popescu", "Okafor", "Dubois", "Novak", "Reyes", "Schmidt", "Cruz", "Walsh", "Santos", "Kim",
    "Fischer", "Bauer", "Nguyen", "Ortiz", "Hughes", "Morales", "Ward", "Kowalski", "Bianchi", "Park",
)  # fmt: skip
COUNTRIES = (("GB", 22), ("US", 30), ("PH", 12), ("DE", 9), ("FR", 7), ("IE", 4), ("CA", 6), ("AU", 5), ("ES", 5))

# Office networks (public egress of each office) and the zone the office works in.
OFFICES = {
    "Europe/London": "203.0.113.10",
    "America/New_York": "203.0.113.20",
    "Asia/Manila": "203.0.113.30",
}
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:141.0) Gecko/20100101 Firefox/141.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:141.0) Gecko/20100101 Firefox/141.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36 Edg/138.0.0.0",
)
INTEGRATION_AGENT = "acme-integrations/2.4 (+https://acme.example/integrations)"


@dataclass
class Staff:
    """One member of the support team, with a home zone that sets their office hours."""

    id: str
    name: str
    email: str
    role: str  # owner | admin | agent
    tz: str
    office_ip: str
    home_ip: str
    user_agent: str
    start_hour: float  # local shift start, hours after midnight
    active_from: int = 0  # epoch ms; invited staff start later
    active_until: int | None = None  # epoch ms; removed staff stop

    def actor(self, role: str | None = None) -> dict[str, object]:
        return {"type": "user", "id": self.id, "email": self.email, "name": self.name, "role": role or self.role}

    def author(self) -> dict[str, object]:
        return {"kind": "user", "id": self.id, "name": self.name}


@dataclass
class ApiKey:
    """An API key owned by a staff member; events it makes carry the owner's identity."""

    id: str
    label: str
    owner: Staff
    scopes: list[str]
    ip: str
    created_in_quarter: bool = False
    revoked_at: int | None = None


@dataclass
class Bot:
    id: str
    name: str

    def author(self) -> dict[str, object]:
        return {"kind": "bot", "id": self.id, "name": self.name}


@dataclass
class Customer:
    id: str
    name: str
    email: str
    country: str


@dataclass
class Roster:
    staff: list[Staff]
    customers: list[Customer]
    keys: dict[str, ApiKey] = field(default_factory=dict)
    bots: dict[str, Bot] = field(default_factory=dict)

    @property
    def agents(self) -> list[Staff]:
        return [s for s in self.staff if s.role == "agent"]

    @property
    def admins(self) -> list[Staff]:
        return [s for s in self.staff if s.role in ("admin", "owner")]


def _ascii(name: str) -> str:
    table = str.maketrans("áéíóúñÁÉÍÓÚÑ", "aeiounAEIOUN")
    return name.translate(table).lower()


def build_roster(rng: random.Random, *, n_staff: int = 40, n_customers: int = 2000) -> Roster:
    """Staff (one owner, a few admins, agents across three zones), keys, bots, customers."""
    # Owner and admins: London, London, New York, Manila, New York; agents spread over the three offices.
    lead_zones = ["Europe/London", "Europe/London", "America/New_York", "Asia/Manila", "America/New_York"]
    agent_zones = ["Europe/London"] * 14 + ["America/New_York"] * 11 + ["Asia/Manila"] * 10
    rng.shuffle(agent_zones)
    zones = lead_zones + agent_zones
    staff: list[Staff] = []
    used: set[str] = set()
    home_octets = rng.sample(range(2, 250), n_staff + 4)
    for i in range(n_staff):
        while True:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            if f"{first} {last}" not in used:
                break
        used.add(f"{first} {last}")
        role = "owner" if i == 0 else "admin" if i <= 4 else "agent"
        tz = zones[i % len(zones)]
        staff.append(
            Staff(
                id=f"usr_{101 + i}",
                name=f"{first} {last}",
                email=f"{_ascii(first)}.{_ascii(last)}@{STAFF_DOMAIN}",
                role=role,
                tz=tz,
                office_ip=OFFICES[tz],
                home_ip=f"198.51.100.{home_octets[i]}",
                user_agent=rng.choice(USER_AGENTS),
                start_hour=rng.choice((8.0, 8.5, 9.0, 9.0, 9.5, 10.0)),
            )
        )
    customers: list[Customer] = []
    seen_emails: set[str] = set()
    countries = [c for c, w in COUNTRIES for _ in range(w)]
    for i in range(n_customers):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        base = f"{_ascii(first)}.{_ascii(last)}"
        email = f"{base}@{CUSTOMER_DOMAIN}"
        n = 2
        while email in seen_emails:
            email = f"{base}{n}@{CUSTOMER_DOMAIN}"
            n += 1
        seen_emails.add(email)
        customers.append(
            Customer(id=f"cus_{1001 + i}", name=f"{first} {last}", email=email, country=rng.choice(countries))
        )
    roster = Roster(staff=staff, customers=customers)
    for bot in (
        Bot("bot_faq", "FAQ Assistant"),
        Bot("bot_triage", "Triage Bot"),
        Bot("bot_scheduler", "Scheduler"),
        Bot("bot_housekeeping", "Housekeeping"),
    ):
        roster.bots[bot.id] = bot
    admins = roster.admins
    for key in (
        ApiKey("key_crm_sync", "CRM sync", admins[1], ["conversations:read", "customers:read"], "192.0.2.11"),
        ApiKey("key_zapier", "Zapier sync", admins[2], ["webhooks:write", "conversations:read"], "192.0.2.12"),
        ApiKey("key_email_bridge", "Email bridge", admins[0], ["conversations:write"], "192.0.2.13"),
        ApiKey("key_analytics", "Analytics export", admins[3], ["conversations:read"], "192.0.2.14"),
    ):
        roster.keys[key.id] = key
    return roster
