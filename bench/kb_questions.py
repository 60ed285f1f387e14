"""The caller questions of `bench/kb_bench.py`, written before the matcher was tuned.

Over the two demo knowledge bases (`frontdesk.cli.demo.DEMO_ORGS`): each answerable question
names the answer it must get by a fragment of that answer's text; `None` means the
knowledge base cannot answer it and the right reply is "I don't know". Answerable ones
are worded unlike the entries (synonyms, other word order, extra words, the answer's
words instead of the question's), some in Italian (the seed's callers are Italian), and
a set as whisper tiny mishears them over G.711 ("Do you deliver?" → "Do you believe
it?"). `INTENTS` are utterances with the intent they carry ("none" for a question).

The split: questions at index % 3 == 2 of each list are held out; the threshold was
chosen on the others only (`python -m bench.kb_bench --tune`), and both are reported.
"""

from __future__ import annotations

PIZZERIA = "pizzeria"
ROSSI = "studio-rossi"

# fragments of the answers (demo.py)
P_OPEN = "6 pm to 11 pm"
P_DELIVER = "within 5 km"
P_ADDRESS = "Via Roma 12"
P_PARKING = "Parking is free"
P_PAY = "cards and cash"
P_GLUTEN = "Gluten-free"
R_OPEN = "Monday to Friday"
R_WHERE = "Via dei Servi 21"
R_PRICE = "80 euros"
R_CASES = "Family law"
R_LAWYERS = "Marco Rossi and Giulia Bianchi"
R_LANGS = "Italian, English and French"
R_PARKING = "Sant'Ambrogio"

Question = tuple[str, str, str | None]  # org slug, what the caller says, answer fragment

PARAPHRASES: list[Question] = [
    # pizzeria: opening hours
    (PIZZERIA, "What time do you open in the evening?", P_OPEN),
    (PIZZERIA, "Until what time are you serving tonight?", P_OPEN),
    (PIZZERIA, "Are you open on Sundays?", P_OPEN),
    (PIZZERIA, "What are your hours?", P_OPEN),
    (PIZZERIA, "How late can I come by for dinner?", P_OPEN),
    (PIZZERIA, "Is the restaurant open right now, at seven?", P_OPEN),
    (PIZZERIA, "Hi, I was wondering when you close tonight", P_OPEN),
    (PIZZERIA, "Are you guys open every day of the week?", P_OPEN),
    # pizzeria: delivery
    (PIZZERIA, "Can you bring the food to my home?", P_DELIVER),
    (PIZZERIA, "Do you do home delivery?", P_DELIVER),
    (PIZZERIA, "How much is it to have pizza delivered?", P_DELIVER),
    (PIZZERIA, "How far do you deliver?", P_DELIVER),
    (PIZZERIA, "Is there a delivery charge?", P_DELIVER),
    (PIZZERIA, "Could a driver drop the pizzas off at my flat?", P_DELIVER),
    (PIZZERIA, "I live about 4 kilometres away, can you come to me?", P_DELIVER),
    (PIZZERIA, "Do you bring orders to people's houses?", P_DELIVER),
    # pizzeria: address
    (PIZZERIA, "Where is the restaurant?", P_ADDRESS),
    (PIZZERIA, "What's your address?", P_ADDRESS),
    (PIZZERIA, "How do I find you, which street are you on?", P_ADDRESS),
    (PIZZERIA, "Are you close to the train station?", P_ADDRESS),
    (PIZZERIA, "Where exactly is the pizzeria located?", P_ADDRESS),
    # pizzeria: parking
    (PIZZERIA, "Is there somewhere to leave my car?", P_PARKING),
    (PIZZERIA, "Do I have to pay for parking?", P_PARKING),
    (PIZZERIA, "Can we park near the restaurant?", P_PARKING),
    (PIZZERIA, "Is there a car park at the back?", P_PARKING),
    (PIZZERIA, "Where can I park when I come to eat?", P_PARKING),
    # pizzeria: payment
    (PIZZERIA, "Can I pay by credit card?", P_PAY),
    (PIZZERIA, "Do you take Visa?", P_PAY),
    (PIZZERIA, "Is it cash only?", P_PAY),
    (PIZZERIA, "Which payment methods do you accept?", P_PAY),
    (PIZZERIA, "Can I pay with my debit card when I pick up?", P_PAY),
    # pizzeria: gluten-free
    (PIZZERIA, "Do you have anything for coeliacs?", P_GLUTEN),
    (PIZZERIA, "Can you make a pizza without gluten?", P_GLUTEN),
    (PIZZERIA, "My daughter can't eat wheat, is there an option for her?", P_GLUTEN),
    (PIZZERIA, "Do you do gluten free dough?", P_GLUTEN),
    (PIZZERIA, "How much extra is the gluten-free base?", P_GLUTEN),
    # studio rossi: opening hours
    (ROSSI, "What are the office hours?", R_OPEN),
    (ROSSI, "Are you open on Saturday morning?", R_OPEN),
    (ROSSI, "When can I reach someone at the studio?", R_OPEN),
    (ROSSI, "Until what time is the office open in the afternoon?", R_OPEN),
    (ROSSI, "Do you close for lunch?", R_OPEN),
    (ROSSI, "What days of the week are you working?", R_OPEN),
    (ROSSI, "At what time does the office open in the morning?", R_OPEN),
    # studio rossi: address
    (ROSSI, "What is the address of the studio?", R_WHERE),
    (ROSSI, "Where are you located?", R_WHERE),
    (ROSSI, "Which floor is your office on?", R_WHERE),
    (ROSSI, "Are you in the centre of Florence?", R_WHERE),
    (ROSSI, "How do I get to your office, what street?", R_WHERE),
    (ROSSI, "Where do I go for my appointment?", R_WHERE),
    # studio rossi: price
    (ROSSI, "How much do you charge for an initial meeting?", R_PRICE),
    (ROSSI, "What does the first appointment cost?", R_PRICE),
    (ROSSI, "What is the fee to see a lawyer the first time?", R_PRICE),
    (ROSSI, "Is the first consultation free?", R_PRICE),
    (ROSSI, "How long is the first consultation and what's the price?", R_PRICE),
    (ROSSI, "What are your rates for a first meeting?", R_PRICE),
    (ROSSI, "How expensive is it to talk to a lawyer?", R_PRICE),
    # studio rossi: cases
    (ROSSI, "Do you handle divorces?", R_CASES),
    (ROSSI, "Can you help me with a problem with my employer?", R_CASES),
    (ROSSI, "What areas of law do you practise?", R_CASES),
    (
        ROSSI,
        "I have a dispute with my neighbour over a property boundary, is that something you do?",
        R_CASES,
    ),
    (ROSSI, "What is your specialty?", R_CASES),
    (ROSSI, "I was fired from my job, can you take my case?", R_CASES),
    (ROSSI, "Do you deal with custody of children after a separation?", R_CASES),
    (ROSSI, "Which legal matters does the studio work on?", R_CASES),
    # studio rossi: lawyers
    (ROSSI, "Who are the lawyers at the studio?", R_LAWYERS),
    (ROSSI, "What is the name of the lawyer?", R_LAWYERS),
    (ROSSI, "How many attorneys work there?", R_LAWYERS),
    (ROSSI, "Is Mr Rossi the only lawyer?", R_LAWYERS),
    # studio rossi: languages
    (ROSSI, "Does anyone there speak English?", R_LANGS),
    (ROSSI, "Can I have the consultation in French?", R_LANGS),
    (ROSSI, "What languages do the lawyers speak?", R_LANGS),
    (ROSSI, "I don't speak Italian well, is that a problem?", R_LANGS),
    # studio rossi: parking
    (ROSSI, "Is there parking near the office?", R_PARKING),
    (ROSSI, "Where can I leave my car when I come?", R_PARKING),
    (ROSSI, "Is there a garage close to you?", R_PARKING),
    # Italian callers
    (PIZZERIA, "A che ora aprite stasera?", P_OPEN),
    (PIZZERIA, "Fate consegne a domicilio?", P_DELIVER),
    (PIZZERIA, "Dove vi trovate?", P_ADDRESS),
    (PIZZERIA, "Si può pagare con il bancomat?", P_PAY),
    (PIZZERIA, "Avete la pizza senza glutine?", P_GLUTEN),
    (PIZZERIA, "C'è un parcheggio?", P_PARKING),
    (ROSSI, "Quanto costa la prima consulenza?", R_PRICE),
    (ROSSI, "Qual è l'orario dello studio?", R_OPEN),
    (ROSSI, "Dov'è lo studio?", R_WHERE),
    (ROSSI, "Vi occupate di separazioni e divorzi?", R_CASES),
    (ROSSI, "Parlate inglese?", R_LANGS),
]

# As whisper tiny hears a robotic voice over G.711 (the kind of errors TESTBED.md records).
MISHEARD: list[Question] = [
    (PIZZERIA, "Do you believe it?", P_DELIVER),
    (PIZZERIA, "Do you the liver?", P_DELIVER),
    (PIZZERIA, "When are you opened?", P_OPEN),
    (PIZZERIA, "What are your opening ours?", P_OPEN),
    (PIZZERIA, "Where are you low Kate Ed?", P_ADDRESS),
    (PIZZERIA, "Is there barking?", P_PARKING),
    (PIZZERIA, "Do you take cars?", P_PAY),
    (PIZZERIA, "Do you have glue 10 free pizza?", P_GLUTEN),
    (PIZZERIA, "Can you deliver to my house? It's for kilometres.", P_DELIVER),
    (ROSSI, "When is the officer open?", R_OPEN),
    (ROSSI, "Where is the officer?", R_WHERE),
    (ROSSI, "How much does a first consolation cost?", R_PRICE),
    (ROSSI, "How much does the first consultation cause?", R_PRICE),
    (ROSSI, "What kind of cases do you handful?", R_CASES),
    (ROSSI, "What kind of case is the you handle?", R_CASES),
    (ROSSI, "Do you speak in glish?", R_LANGS),
    (ROSSI, "Where is the office? Which flaw?", R_WHERE),
    (ROSSI, "Who are the lawyer's?", R_LAWYERS),
]

UNANSWERABLE: list[Question] = [
    (PIZZERIA, "Do you have a vegan menu?", None),
    (PIZZERIA, "How much is a margherita?", None),
    (PIZZERIA, "Do you sell beer?", None),
    (PIZZERIA, "Can I bring my dog inside?", None),
    (PIZZERIA, "Is there wifi in the restaurant?", None),
    (PIZZERIA, "Do you have a table outside on the terrace?", None),
    (PIZZERIA, "Are you hiring waiters at the moment?", None),
    (PIZZERIA, "Do you cater for weddings?", None),
    (PIZZERIA, "What is the name of the chef?", None),
    (PIZZERIA, "Do you sell gift vouchers?", None),
    (PIZZERIA, "Is the tiramisu homemade?", None),
    (PIZZERIA, "Do you have high chairs for babies?", None),
    (PIZZERIA, "Can I hold a birthday party for thirty people there?", None),
    (PIZZERIA, "Is the restaurant wheelchair accessible?", None),
    (PIZZERIA, "What's the weather going to be like tomorrow?", None),
    (PIZZERIA, "Who won the football match last night?", None),
    (PIZZERIA, "Do you make calzone?", None),
    (PIZZERIA, "Are your tomatoes organic?", None),
    (PIZZERIA, "Do you have a kids menu?", None),
    (PIZZERIA, "Can you recommend a good hotel nearby?", None),
    (PIZZERIA, "Avete pizze vegane?", None),
    (PIZZERIA, "Quanto costa una margherita?", None),
    (ROSSI, "Do you handle criminal defence for drug charges?", None),
    (ROSSI, "Can you help me with my taxes?", None),
    (ROSSI, "How long does a divorce take in Italy?", None),
    (ROSSI, "What is your success rate in court?", None),
    (ROSSI, "Do you offer payment in instalments?", None),
    (ROSSI, "Can I get legal aid through you?", None),
    (ROSSI, "Do you do consultations by video call?", None),
    (ROSSI, "Is the building accessible by lift?", None),
    (ROSSI, "How many years has the studio been open?", None),
    (ROSSI, "Do you have an office in Rome as well?", None),
    (ROSSI, "What is the hourly rate for a court hearing?", None),
    (ROSSI, "Can you register a trademark for my company?", None),
    (ROSSI, "Is there a bus that stops near you?", None),
    (ROSSI, "Do you work with immigration and visas?", None),
    (ROSSI, "What's the capital of Australia?", None),
    (ROSSI, "Can you recommend a good notary?", None),
    (ROSSI, "Are you accepting new clients for patents?", None),
    (ROSSI, "Fate anche diritto penale?", None),
    (ROSSI, "Si possono fare consulenze online?", None),
    (ROSSI, "What's your email address?", None),
    (ROSSI, "Do you have a website?", None),
    (PIZZERIA, "What's your phone number for WhatsApp?", None),
]

# (utterance, intent): the responder's intents; "none" is a question or small talk.
INTENTS: list[tuple[str, str]] = [
    ("Can I get a pizza brought to my place?", "order"),
    ("I'd like two margheritas and a coke, please", "order"),
    ("I want to order two pizzas for delivery", "order"),
    ("Could you send over a large pepperoni to Via Verdi 3?", "order"),
    ("I'll take one capricciosa for pick up at eight", "order"),
    ("Vorrei ordinare due pizze da asporto", "order"),
    ("Put me down for three quattro formaggi, I'll collect them", "order"),
    ("I'd like to book a table for four at eight tonight", "booking"),
    ("Have you got room for six people on Saturday?", "booking"),
    ("Can I reserve for two tomorrow evening?", "booking"),
    ("I need an appointment with a lawyer next week", "booking"),
    ("Vorrei prenotare un tavolo per due", "booking"),
    ("I'd like to leave a message for Mr Rossi", "message"),
    ("Can you pass a note on to the lawyer?", "message"),
    ("Please tell Giulia that I'll send the documents tomorrow", "message"),
    ("Vorrei lasciare un messaggio", "message"),
    ("Could someone call me back this afternoon?", "callback"),
    ("Please ring me later on this number", "callback"),
    ("Ask the lawyer to phone me back when she's free", "callback"),
    ("Mi potete richiamare domani?", "callback"),
    ("Can I speak to a real person?", "transfer"),
    ("Put me through to someone, please", "transfer"),
    ("I want to talk to the manager", "transfer"),
    ("Mi passi un operatore", "transfer"),
    ("Connect me with a human being", "transfer"),
    ("No thanks, that's all. Bye!", "goodbye"),
    ("That's everything, have a good evening", "goodbye"),
    ("OK thanks, goodbye", "goodbye"),
    ("Grazie, arrivederci", "goodbye"),
    ("No, nothing else", "goodbye"),
    ("The pizza arrived cold and the driver was rude", "complaint"),
    ("I want to complain about my last order, it was burnt", "complaint"),
    ("You charged me twice on my card, that's not acceptable", "complaint"),
    ("Can I order online?", "none"),
    ("Do you deliver?", "none"),
    ("I would like to know when you are open", "none"),
    ("How much does a first consultation cost?", "none"),
    ("Do you take bookings for large groups?", "none"),
    ("Is it possible to leave a message on your answering machine at night?", "none"),
    ("What time do you close?", "none"),
]
