"""The words the world is made of: categories and their provider vocabularies, name parts, streets, chains."""

from __future__ import annotations

CATEGORIES: tuple[str, ...] = (
    "plumber",
    "electrician",
    "dentist",
    "hvac",
    "roofing",
    "landscaping",
    "auto_repair",
    "bakery",
    "cafe",
    "law_firm",
)

# Words a search text may use for each category (singular, plural, trade name).
CATEGORY_SYNONYMS: dict[str, tuple[str, ...]] = {
    "plumber": ("plumber", "plumbers", "plumbing"),
    "electrician": ("electrician", "electricians", "electrical", "electric"),
    "dentist": ("dentist", "dentists", "dental", "dentistry"),
    "hvac": ("hvac", "heating", "air conditioning", "furnace repair", "ac repair"),
    "roofing": ("roofing", "roofer", "roofers", "roof repair"),
    "landscaping": ("landscaping", "landscaper", "landscapers", "lawn care"),
    "auto_repair": ("auto repair", "auto_repair", "car repair", "mechanic", "mechanics", "auto shop"),
    "bakery": ("bakery", "bakeries", "baker", "bakers"),
    "cafe": ("cafe", "cafes", "café", "coffee", "coffee shop", "coffee shops"),
    "law_firm": ("law firm", "law firms", "law_firm", "lawyer", "lawyers", "attorney", "attorneys"),
}

# Google Places (New) primaryType and extra types per category.
GOOGLE_TYPES: dict[str, tuple[str, ...]] = {
    "plumber": ("plumber",),
    "electrician": ("electrician",),
    "dentist": ("dentist", "dental_clinic", "health"),
    "hvac": ("general_contractor",),
    "roofing": ("roofing_contractor", "general_contractor"),
    "landscaping": ("general_contractor",),
    "auto_repair": ("car_repair",),
    "bakery": ("bakery", "food_store", "food", "store"),
    "cafe": ("cafe", "coffee_shop", "food"),
    "law_firm": ("lawyer",),
}

# Yelp Fusion category {alias, title} per category (real Yelp aliases).
YELP_CATEGORIES: dict[str, tuple[tuple[str, str], ...]] = {
    "plumber": (("plumbing", "Plumbing"),),
    "electrician": (("electricians", "Electricians"),),
    "dentist": (("generaldentistry", "General Dentistry"),),
    "hvac": (("hvac", "Heating & Air Conditioning/HVAC"),),
    "roofing": (("roofing", "Roofing"),),
    "landscaping": (("landscaping", "Landscaping"),),
    "auto_repair": (("autorepair", "Auto Repair"),),
    "bakery": (("bakeries", "Bakeries"),),
    "cafe": (("coffee", "Coffee & Tea"),),
    "law_firm": (("lawyers", "Lawyers"),),
}

CATEGORY_NOUNS: dict[str, tuple[str, ...]] = {
    "plumber": ("Plumbing", "Plumbing & Heating", "Plumbing & Drain", "Rooter Service", "Plumbing Company"),
    "electrician": ("Electric", "Electrical Services", "Electric Company", "Electrical Contractors"),
    "dentist": ("Dental", "Family Dentistry", "Dental Care", "Dental Group", "Smile Studio"),
    "hvac": ("Heating & Air", "HVAC", "Heating & Cooling", "Comfort Systems", "Air Conditioning Company"),
    "roofing": ("Roofing", "Roofing & Exteriors", "Roofing Company", "Roof Systems"),
    "landscaping": ("Landscaping", "Lawn & Garden", "Landscape Design", "Lawn Care Company"),
    "auto_repair": ("Auto Repair", "Automotive", "Auto Service", "Garage", "Auto Care"),
    "bakery": ("Bakery", "Bakehouse", "Bread Company", "Pastry Shop"),
    "cafe": ("Coffee", "Cafe", "Coffee House", "Espresso Bar", "Coffee Company"),
    "law_firm": ("Law Group", "Law Firm", "Legal", "Law Offices", "& Associates"),
}

LEGAL_SUFFIXES: dict[str, tuple[str, ...]] = {
    "dentist": ("DDS", "PC", "PLLC"),
    "law_firm": ("LLP", "PC", "PLLC"),
}
DEFAULT_SUFFIXES = ("LLC", "Inc.", "Co.", "Company", "Corp.")

ADJECTIVES = (
    "Ace", "Premier", "Reliable", "Summit", "Blue Ribbon", "Liberty", "Pioneer", "Precision", "Golden",
    "Evergreen", "Northside", "Southside", "Eastside", "Westside", "Elite", "Trusted", "Family", "Quality",
    "Heritage", "Red Rock", "Keystone", "Capital", "Metro", "Cornerstone", "Bright", "Sunrise", "Frontier",
    "Patriot", "All Star", "First Choice", "Hometown", "Old Town", "Riverside", "Lakeside", "Oak Tree",
)  # fmt: skip
SURNAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
    "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
    "Wright", "Scott", "Nguyen", "Hill", "Green", "Adams", "Baker", "Nelson", "Carter", "Mitchell",
    "Perez", "Roberts", "Turner", "Phillips", "Campbell", "Parker", "Evans", "Edwards", "Collins", "Stewart",
    "Murphy", "Cook", "Rogers", "Morgan", "Cooper", "Peterson", "Reed", "Bailey", "Kelly", "Howard",
)  # fmt: skip
STREETS = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Lincoln",
    "Jefferson", "Madison", "Franklin", "Highland", "Sunset", "Broadway", "Market", "Church", "Spring",
    "Walnut", "Chestnut", "Center", "River", "Ridge", "Meadow", "Forest", "Valley", "Colfax", "Blake",
    "Wynkoop", "Grand", "Union", "College", "Prospect", "Jackson", "Adams", "Monroe", "Willow", "Birch",
    "Mill", "Front", "Water", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth",
)  # fmt: skip
# Full street suffix -> USPS abbreviation (used by providers' noise, never by the ground truth).
STREET_SUFFIXES: dict[str, str] = {
    "Street": "St",
    "Avenue": "Ave",
    "Boulevard": "Blvd",
    "Road": "Rd",
    "Drive": "Dr",
    "Lane": "Ln",
    "Way": "Way",
    "Parkway": "Pkwy",
    "Court": "Ct",
    "Place": "Pl",
}
DIRECTIONS: dict[str, str] = {"North": "N", "South": "S", "East": "E", "West": "W"}
UNIT_KINDS = ("Suite", "Unit", "Ste")
TLDS = (".com", ".com", ".com", ".com", ".net", ".co", ".biz", ".us")

# Chain brands: several branches, each a DIFFERENT business sharing brand name and domain.
CHAINS: dict[str, tuple[tuple[str, str], ...]] = {
    "plumber": (("Rapid Rooter Plumbing", "rapidrooter.com"), ("Blue Pipe Plumbing", "bluepipeplumbing.com")),
    "electrician": (("BrightWire Electric", "brightwire.com"),),
    "dentist": (("SmileWorks Dental", "smileworksdental.com"), ("Bright Now Dental", "brightnowdental.net")),
    "hvac": (("Comfort Masters Heating & Air", "comfortmasters.com"),),
    "roofing": (("Peak Roofing & Exteriors", "peakroofing.com"),),
    "landscaping": (("GreenScape Lawn & Landscape", "greenscape.com"),),
    "auto_repair": (("Precision Auto Care", "precisionac.com"), ("QuickLane Auto Service", "quicklane.com")),
    "bakery": (("Golden Crust Bakery", "goldencrust.com"),),
    "cafe": (("Bluebird Coffee", "bluebirdcoffee.com"), ("Daily Grind Coffee", "dailygrind.coffee")),
    "law_firm": (("Hartman & Cole Law", "hartmancole.law"),),
}

# Toll-free area codes: a business line may use one, so phone parsing must not assume a metro code.
TOLL_FREE = ("800", "833", "844", "855", "866", "877", "888")

# ---- provider-overlap noise (used only when a NoiseProfile turns it on) ---------------------------
# Franchise brands: independently owned businesses under one brand name (own owner, phone and address).
FRANCHISES: dict[str, tuple[tuple[str, str], ...]] = {
    "plumber": (("Mr. Drain Plumbing", "mrdrain.com"), ("Roto-Star Plumbing", "rotostar.com")),
    "electrician": (("Volt Pros Electric", "voltpros.com"),),
    "dentist": (("Family Smiles Dental", "familysmiles.com"),),
    "hvac": (("One Hour Comfort Heating & Air", "onehourcomfort.com"),),
    "roofing": (("Top Notch Roofing", "topnotchroofing.com"),),
    "landscaping": (("Weed Away Lawn Care", "weedaway.com"),),
    "auto_repair": (("Midway Auto Care", "midwayauto.com"), ("Tune Time Auto Service", "tunetime.com")),
    "bakery": (("Cinnamon Street Bakery", "cinnamonstreet.com"),),
    "cafe": (("Bean There Coffee", "beanthere.coffee"),),
    "law_firm": (("Injury Help Law", "injuryhelp.law"),),
}
# Words a provider may abbreviate in a name (and the abbreviation), and name patterns that carry them.
NAME_ABBREVIATIONS: dict[str, str] = {
    "Saint": "St.",
    "Mount": "Mt.",
    "Brothers": "Bros.",
    "International": "Intl",
    "Associates": "Assoc.",
    "Center": "Ctr.",
    "Company": "Co.",
}
ABBREVIABLE_PATTERNS: tuple[str, ...] = (
    "Saint {surname} {noun}",
    "Mount {street} {noun}",
    "{surname} Brothers {noun}",
    "{adjective} {noun} International",
    "{surname} {noun} Associates",
    "{adjective} {noun} Center",
)
# The owner behind a trade name, as a provider fed from business registries may show it ("... dba ...").
OWNER_KINDS = ("Enterprises", "Holdings", "Ventures", "Group", "Partners", "Services")
