"""Fixed texts the offline responder compares callers with (see `knowledge.py`).

Owns two lists, embedded once per process:
- `BACKGROUND`: questions and small talk that no particular business answers, across many
  kinds of business, in English and Italian. Each knowledge-base entry's similarity to
  them is its baseline: an entry is a match when the caller is much closer to it than
  these are (a z-score), which evens out entries that are close to everything.
  Questions for other kinds of business (a bank, a museum, a bike shop) and small talk;
  written after bench/kb_questions.py but not from it (the bench's unanswerable questions
  are not among them).
- `INTENT_EXAMPLES`: short utterances per intent (order, booking, message, callback,
  transfer, goodbye, complaint, and "question": asking for information). Written after
  the bench's `INTENTS` (none is the same sentence, some are close): the intent figure
  of bench/kb_bench.py is therefore not a held-out one.

Must not: hold tenant data.
"""

from __future__ import annotations

BACKGROUND: tuple[str, ...] = (
    "What time is it?",
    "Can you tell me a joke?",
    "How do I reset my password?",
    "Is this the right number for the bank?",
    "What is the price of a train ticket to Milan?",
    "Do you sell second-hand bicycles?",
    "Where can I buy stamps?",
    "How old are you?",
    "Are you a robot?",
    "What is your favourite colour?",
    "How do I get to the airport?",
    "Can I return a pair of shoes?",
    "Do you fix broken phones?",
    "Is the museum open on Mondays?",
    "What's the score of the game?",
    "How much does a new car cost?",
    "Do you have any puppies for sale?",
    "Can you recommend a good film?",
    "Is it going to rain this weekend?",
    "Where is the nearest pharmacy?",
    "Do you offer swimming lessons?",
    "How many calories are in an apple?",
    "Can I pay my electricity bill here?",
    "Do you repair washing machines?",
    "What is the meaning of life?",
    "Who is the president of France?",
    "How do I cook rice?",
    "Is there a dentist in this building?",
    "Do you rent holiday apartments?",
    "Can you translate this letter for me?",
    "What's the best way to learn Spanish?",
    "Do you sell insurance?",
    "Is the post office open today?",
    "How do I apply for a passport?",
    "Can I speak Chinese with you?",
    "Do you have yoga classes?",
    "What's the exchange rate of the dollar?",
    "Do you print photos?",
    "How long does it take to fly to New York?",
    "Can I order a taxi through you?",
    "Che tempo fa domani?",
    "Dove si comprano i biglietti dell'autobus?",
    "Vendete biciclette usate?",
    "Quanto costa un biglietto del treno?",
    "C'è una farmacia qui vicino?",
    "Come faccio a rinnovare la carta d'identità?",
    "Riparate i telefoni?",
    "Avete lezioni di nuoto?",
    "Chi ha vinto la partita ieri sera?",
    "Mi può consigliare un buon film?",
)

INTENT_EXAMPLES: dict[str, tuple[str, ...]] = {
    "order": (
        "I'd like to order a pizza",
        "Can I order some food for delivery?",
        "I want two pizzas to take away",
        "Send me a margherita and a coke",
        "I'll have a large pizza, please",
        "Could you bring me some food at home?",
        "Vorrei ordinare una pizza",
        "Mi porta due pizze a casa?",
    ),
    "booking": (
        "I'd like to book a table",
        "Can I make a reservation for tonight?",
        "A table for four at eight, please",
        "I need an appointment",
        "Can I come in on Monday to see the lawyer?",
        "Vorrei prenotare un tavolo",
        "Vorrei un appuntamento",
    ),
    "message": (
        "I'd like to leave a message",
        "Can you give him a message?",
        "Please tell her that I called",
        "Let the manager know that I'm running late",
        "Posso lasciare un messaggio?",
        "Gli dica che ho chiamato",
    ),
    "callback": (
        "Please call me back",
        "Can someone ring me later?",
        "Have him phone me tomorrow morning",
        "Could you return my call?",
        "Mi può richiamare?",
        "Mi faccia richiamare",
    ),
    "transfer": (
        "Can I speak to a person?",
        "Put me through to someone",
        "I want to talk to a human",
        "Transfer me to the manager",
        "Is there a real person I can talk to?",
        "Mi passa qualcuno?",
        "Vorrei parlare con una persona",
    ),
    "goodbye": (
        "Goodbye",
        "That's all, thank you, bye",
        "No, nothing else, thanks",
        "OK, have a nice day",
        "Arrivederci e grazie",
        "No grazie, è tutto",
    ),
    "complaint": (
        "I want to make a complaint",
        "The food was cold and late",
        "Your service was terrible",
        "I was overcharged",
        "Voglio fare un reclamo",
        "La pizza era bruciata",
    ),
    "question": (
        "Do you have a delivery service?",
        "When are you open?",
        "Where are you?",
        "How much does it cost?",
        "Is it possible to order on the website?",
        "Do you take reservations?",
        "What kind of services do you offer?",
        "I would like to know your opening hours",
        "Is there parking?",
        "Quando siete aperti?",
        "Quanto costa?",
    ),
}
