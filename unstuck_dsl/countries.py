"""ISO 3166-1 alpha-2 country codes: what a region may name, and what a country field holds."""

COUNTRY_CODES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
    EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
    LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
    NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
    """.split()
)


def holds_countries(field_name: str) -> bool:
    """A field whose name says it holds countries (`country`, `hq_country`, `office_countries`):
    the rules compare it with ISO 3166-1 alpha-2 codes, so any other value can never match."""
    name = field_name.casefold()
    return name in ("country", "countries") or name.endswith(("_country", "_countries"))


def country_hint(code: str) -> str:
    """What to write instead of something that is not a country code."""
    import difflib

    if code.strip().upper() in COUNTRY_CODES:
        return f'country codes are upper case: write "{code.strip().upper()}"'
    close = difflib.get_close_matches(code.upper(), sorted(COUNTRY_CODES), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else "use ISO 3166-1 alpha-2 codes such as US, GB, DE"
