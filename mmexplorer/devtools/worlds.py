"""Generated benchmark libraries ("worlds") with labelled queries, for tests/bench/bench_fusion.py.

A world is a folder of shape photos (rendered by `synth.render_shape`, captions known) and
everyday notes (drawn from `NOTE_POOL`), plus queries whose right answers are known:

- photo queries: a colour and a shape, worded as people type them ("red circle", "a circle that
  is red", "picture of a red circle"); right answer: every photo of that colour and shape.
- note queries: paraphrases of one pool note, sharing few words with it; right answer: every
  copy of that note in the world.
- multi-answer queries: "something red", "stars"; right answer: every photo of that colour, or
  of that shape.
- off-topic queries: history, science, sport, celebrities, abstract ideas and photo-like
  descriptions of things no photo shows; right answer: nothing.
- exact queries: a file name or its stem ("kilimanjaro-summit.jpg", "Quittung_Baumarkt", the
  neutral "IMG_0042"), a word of a distinctive file name, a rare name or word that occurs in one
  pool note ("Tobermory"), or an exact phrase of one note; right answer: the files that carry it.

The notes and queries here share no topic with `synth.NOTES` nor with the calibration pairs
shipped in mmexplorer/core/data/calibration_text_en.tsv, so a benchmark on a world measures text
that the calibration never saw. No note contains a colour or a shape word of the photo world, so a
photo query has no right answer among the notes.

    world = make_world(tmp / "lib", **dict(zip(("photos", "notes"), WORLD_SIZES["mixed"])), seed=1)
    for query, right in world.photo_queries: ...

Everything is deterministic given the arguments and writes only under `root`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from mmexplorer.devtools.synth import COLOURS, SHAPES, caption, render_shape

# (photos, notes) of the named configurations.
WORLD_SIZES: dict[str, tuple[int, int]] = {
    "photo-heavy": (500, 3),
    "note-heavy": (20, 300),
    "mixed": (144, 30),
    "large-mixed": (2000, 600),
    "xl-mixed": (4000, 1000),
}


# -------------------------------------------------------------------------------------- the notes


@dataclass(frozen=True)
class PoolNote:
    """One everyday note and what a person would type to find it.

    Attributes:
        key: a stable id.
        title: the first line of the file.
        body: the rest; empty for a one-word note.
        queries: paraphrases, as typed into a search box, whose right answer is this note.
        rare: names or words that occur in this note and in no other pool note (exact-word queries).
        phrases: exact phrases of this note, found in no other pool note (exact-phrase queries).
        file_name: a distinctive file name for the first copy of this note in a world; None for a
            neutral one (note-017.md).
    """

    key: str
    title: str
    body: str
    queries: tuple[str, ...]
    rare: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    file_name: str | None = None

    @property
    def text(self) -> str:
        """The note as a plain-text file holds it."""
        return f"{self.title}\n\n{self.body}\n" if self.body else f"{self.title}\n"


NOTE_POOL: list[PoolNote] = [
    # ---------------------------------------------------------------- home
    PoolNote(
        "gutters",
        "Gutters overflowing",
        "Every time it rains hard, water pours over the edge at the back of the house and down the wall "
        "by the kitchen door. The downpipe is probably blocked with moss and leaves from the sycamore. "
        "Pemberton Roofing can clear and flush the whole run for about 90 and will look at the loose "
        "bracket above the bathroom window. Ask them to fit mesh guards while the ladder is up.",
        ("rainwater spilling down the back wall", "who cleans out the drainpipes"),
        rare=("Pemberton",),
    ),
    PoolNote(
        "bathroom_mould",
        "Mould in the bathroom",
        "The black spots are back on the ceiling above the shower and along the silicone by the bath. "
        "Wipe them with diluted bleach, let it dry completely, then use anti-fungal paint. The extractor "
        "fan barely pulls any air; replace it with a humidity-sensing one, and leave the window open a "
        "crack after every shower.",
        ("dark patches growing over the tub", "getting rid of fungus in the washroom"),
    ),
    PoolNote(
        "loft_insulation",
        "Loft insulation",
        "The loft only has a thin old layer between the joists, maybe 50 mm. The recommended depth now is "
        "270 mm, so lay a second layer of mineral wool across the joists. Board a walkway to the water "
        "tank so nobody puts a foot through the ceiling. Wear a mask, gloves and long sleeves, the fibres "
        "itch for days. The council scheme may pay for it because the house was built before 1930.",
        ("keeping heat from escaping through the roof space",),
    ),
    PoolNote(
        "kitchen_worktop",
        "New kitchen worktop",
        "Bought two lengths of solid oak worktop, 3 m each, with the end caps and a jigsaw blade for the "
        "sink cut-out. Oil every face, the underside and the cut edges too, three coats a day apart before "
        "fitting. Leave a 3 mm gap at the wall so the wood can move. Total at the DIY store: 412 with "
        "delivery.",
        ("treating the new wooden counter before fitting it", "how much were the timber surfaces"),
        file_name="Quittung_Baumarkt.txt",
    ),
    PoolNote(
        "solar_quotes",
        "Solar panel quotes",
        "Two quotes so far: Brightfield want 7,900 for a 4.2 kW system with ten panels, and the other firm "
        "8,600 including a battery-ready inverter. The south-facing roof is ideal, but the chimney shades "
        "one corner in the afternoon. Payback is estimated at nine to eleven years. Get a third quote and "
        "ask about the scaffolding.",
        ("generating our own power from the roof", "photovoltaic installation prices"),
        rare=("Brightfield",),
    ),
    PoolNote(
        "noisy_neighbours",
        "Noise from upstairs",
        "The people in the flat above stomp around and play music past midnight most weekends. Keep a "
        "diary of dates and times before making a formal complaint. First try a friendly note under their "
        "door; if nothing changes, the housing association offers free mediation.",
        ("the people above us are too loud at night", "complaining about the flat overhead"),
    ),
    PoolNote(
        "spare_key",
        "Spare key",
        "Left the spare front door key with Mrs Okafor at number 12. She is away in August, so give one to "
        "Tom as well. The back door key hangs on the hook inside the meter cupboard.",
        ("who has a copy of our house key", "locked out what do I do"),
        rare=("Okafor",),
    ),
    PoolNote(
        "condensation",
        "Condensation",
        "The windows are dripping every morning and the box room smells musty. Running the dehumidifier on "
        "the landing for eight hours fills its tank, so empty it before bed. Dry the laundry outside, or in "
        "the bathroom with the door shut, never on the radiators.",
        ("wet windows when I wake up", "musty smell in the small bedroom"),
    ),
    # ---------------------------------------------------------------- work
    PoolNote(
        "conference_talk",
        "Conference talk",
        "Twenty-minute slot on the second day, right after lunch, so open with a story to wake people up. "
        "Keep it to twelve slides, one idea each, and leave five minutes for questions. Rehearse twice with "
        "a timer and once in front of Maya. Bring the clicker, an HDMI adapter and the slides on a USB "
        "stick in case the laptop fails.",
        ("preparing my presentation for the event", "tips for speaking on stage"),
    ),
    PoolNote(
        "freelance_invoice",
        "Invoice for the brochure",
        "Brochure layout: 18 hours at 55, plus 120 for the stock images, payable within 30 days. Halvorsen "
        "Design paid the last one three weeks late, so send a polite reminder on day 31. Keep a copy in "
        "the accounts folder and add it to the income spreadsheet.",
        ("billing the client for the design work", "chasing payment from a customer"),
        rare=("Halvorsen",),
        file_name="INV-2024-017.txt",
    ),
    PoolNote(
        "pay_rise",
        "Asking for a raise",
        "Book a proper meeting rather than raising it at the end of a one-to-one. Bring numbers: the three "
        "projects I led, the client I kept, and what the same role pays at other firms, around 8% more. "
        "Ask for a specific figure, and if the budget is frozen agree a date for a second review.",
        ("how to get paid more at my job", "negotiating my salary"),
    ),
    PoolNote(
        "resignation",
        "Handing in my notice",
        "The notice period is four weeks, so the letter goes in on Monday to finish before the new job "
        "starts on the 3rd. Keep the letter short and thankful. Write a handover document for the monthly "
        "reporting and the supplier contacts, and take the remaining holiday instead of losing it.",
        ("leaving my current employer", "quitting letter"),
    ),
    PoolNote(
        "mentoring",
        "Mentoring Jonah",
        "Coffee every fortnight with Jonah, who joined the team in spring. He wants to get better at "
        "estimating work and feels shy in meetings. Suggested he presents the next demo and keeps a log of "
        "how long tasks really take. Check back in a month.",
        ("coaching a junior colleague",),
    ),
    PoolNote(
        "first_aid_course",
        "Notes from the first aid course",
        "Saturday course at the sports club, run by a paramedic. The most important thing: check for "
        "danger, then check for a response, then call the emergency number and put the phone on speaker so "
        "your hands are free.\n\n"
        "If someone is not breathing normally, start chest compressions straight away: in the centre of "
        "the chest, hands locked, arms straight, five to six centimetres deep, at a pace of two a second, "
        "the beat of Stayin' Alive. Thirty compressions, then two rescue breaths if you are trained and "
        "willing; otherwise keep going with compressions only. Send someone to fetch the defibrillator, "
        "switch it on and follow the voice. It will not shock unless a shock is needed.\n\n"
        "Recovery position for someone who is breathing but does not respond: on their side, the top knee "
        "bent, the head tilted back so the airway stays open, and keep checking their breathing until the "
        "ambulance arrives.\n\n"
        "Choking: encourage coughing first. Then up to five sharp blows between the shoulder blades, then "
        "up to five abdominal thrusts, and repeat. Babies are different: face down along the forearm, back "
        "blows, then chest thrusts with two fingers.\n\n"
        "Heavy bleeding: press hard on the wound with a clean pad or a folded cloth and keep pressing; if "
        "blood soaks through, put a second pad on top rather than lifting the first. Raise the limb if "
        "nothing is broken.\n\n"
        "Stroke: think FAST. Face drooping on one side, Arm weakness, Speech slurred, Time to call. Note "
        "the time the symptoms started, because the hospital will ask.\n\n"
        "Burns: cool under running water for twenty minutes, take off jewellery and watches before the "
        "skin swells, then cover loosely with cling film. No ice, no butter, no creams.\n\n"
        "The certificate lasts three years; it is in the drawer with the other documents. Book the "
        "refresher before it runs out.",
        ("what to do if someone collapses", "resuscitation steps I learned"),
        phrases=("abdominal thrusts",),
        file_name="EH-Kurs Notizen.md",
    ),
    # ---------------------------------------------------------------- health
    PoolNote(
        "sprained_ankle",
        "Twisted ankle",
        "Went over on my ankle on the last step of the stairs. Ice, rest and keep it raised for two days; "
        "the swelling has gone down but it is badly bruised. The minor injuries unit did an x-ray and "
        "nothing is broken. Wear the support brace for walks and trace the alphabet with the foot twice a "
        "day.",
        ("hurt my foot falling down the steps", "injured joint after a fall"),
    ),
    PoolNote(
        "mole_check",
        "Skin check",
        "The mole on my left shoulder looks darker and its edge is uneven. Dermatology appointment on the "
        "9th. Take a photo with a ruler next to it every month to compare, and keep it covered with "
        "sunscreen in summer.",
        ("spot on my back changing shape", "appointment with the skin doctor"),
    ),
    PoolNote(
        "hearing_test",
        "Hearing test",
        "Since the festival there is a high whistling in the left ear whenever it is quiet. The audiologist "
        "found a small dip at high frequencies, nothing serious. Wear earplugs at loud events from now on, "
        "and go back in six months if it does not fade.",
        ("buzzing in my ears after loud music", "ear check results"),
    ),
    PoolNote(
        "migraines",
        "Headache diary",
        "Three bad migraines this month, all on days when I skipped breakfast or slept badly. Triggers to "
        "watch: aged cheese, bright screens late at night, not drinking enough water. Take the tablet at "
        "the first flicker of aura, not an hour later, and lie down in a dark room.",
        ("what sets off my headaches", "splitting head pain log"),
    ),
    PoolNote(
        "less_coffee",
        "Cutting down caffeine",
        "Down from five espressos a day to two, none after noon. The first week brought headaches and I was "
        "dozy in the afternoons; by the second week it was easier. Swap the afternoon one for peppermint "
        "tea or a short walk round the block.",
        ("drinking less coffee", "cutting back on stimulants"),
    ),
    PoolNote(
        "counselling",
        "Counselling session",
        "Sixth session today. We talked about why I put off difficult conversations. Homework: write the "
        "worries down in the evening and set them aside, and notice one thing each day that went well. "
        "Next appointment in two weeks, same time.",
        ("notes from my therapist", "exercises for dealing with anxiety"),
        file_name="Tagebuch_Sitzung6.txt",
    ),
    # ---------------------------------------------------------------- money
    PoolNote(
        "travel_money",
        "Money for the trip",
        "Get some cash in the local currency before going, about 200 for taxis and markets. Use the card "
        "with no foreign transaction fees for everything else, and always choose to pay in the local "
        "currency when the machine asks. Tell the bank the travel dates so the card is not blocked.",
        ("exchanging money before going abroad", "cards that work overseas without charges"),
    ),
    PoolNote(
        "loan_to_friend",
        "Money lent to Dario",
        "Lent Dario 600 in March for his van repair. He pays back 50 a month by bank transfer on the 1st; "
        "200 received so far. Keep track here and do not bring it up at dinners.",
        ("cash a mate still owes me",),
        rare=("Dario",),
    ),
    PoolNote(
        "selling_bike",
        "Selling the old bike",
        "The road bike has not been ridden in two years. Clean it, pump up the tyres, and take photos in "
        "daylight from both sides. List it online for 280 and accept around 240. Test rides only with a "
        "deposit left behind.",
        ("getting rid of my bicycle online", "what price for a second hand cycle"),
    ),
    PoolNote(
        "wills",
        "Making a will",
        "Now that we have the kids we need proper wills. Decide on guardians (Ruth and Ben said yes), who "
        "the executor should be, and what happens to the house. A solicitor charges about 300 for mirror "
        "wills; they keep the originals, and the family must know where they are.",
        ("who raises the kids if something happens to us", "estate planning"),
    ),
    PoolNote(
        "student_loan",
        "Student loan",
        "Repayments only start above the earnings threshold and come straight out of the salary. The "
        "statement says 41,300 still owed, with interest added every month. It is written off after 30 "
        "years, so overpaying is probably not worth it.",
        ("paying back what I borrowed for uni",),
    ),
    # ---------------------------------------------------------------- travel
    PoolNote(
        "ferry_mull",
        "Ferry to Mull",
        "Car ferry from Oban at 9:55, about fifty minutes on the water; be in the queue half an hour early. "
        "The return is booked for the Friday afternoon. We stay in Tobermory for four nights, then drive "
        "to the west coast for the boat trip to see the puffins.",
        ("boat to the scottish island", "sailing times for the island holiday"),
        rare=("Tobermory",),
    ),
    PoolNote(
        "tokyo",
        "Tokyo",
        "The flight lands at Haneda at 6:40 in the morning, so stay awake the whole first day and get "
        "daylight to beat the jet lag. The apartment is in Kichijoji, near the park. Get a transport card "
        "at the airport and top it up; most small restaurants only take cash.",
        ("beating tiredness after the long flight to japan", "where we are staying in japan"),
        rare=("Kichijoji",),
    ),
    PoolNote(
        "norway_roadtrip",
        "Norway road trip plan",
        "Fly into Bergen on the 21st and pick up the car at the airport. The first day is just the city: "
        "the fish market, the funicular up Fløyen for the view, an early night. Then east to Voss and north "
        "over the mountain road to the Sognefjord, three nights in a cabin near Balestrand.\n\n"
        "The middle of the trip is the long drive up to Geiranger past the Jostedal glacier. The roads are "
        "narrow and slow, so no more than four hours of driving a day, with stops. Several fjords have no "
        "bridge, and the car ferries run about every half hour; you pay on board or the plate is scanned. "
        "Tolls are also charged by camera, so register the plate with the toll company online to avoid the "
        "admin fee.\n\n"
        "Where to sleep: cabins at campsites are the cheapest roof, about 900 kroner a night for four "
        "beds, bring our own sheets or pay extra. Two nights at the guesthouse above the village in "
        "Geiranger, then the Trollstigen road and the last two nights near Ålesund, where we fly home. "
        "Food is expensive, so shop at the big supermarkets and cook most evenings; a packed lunch every "
        "day saves a fortune.\n\n"
        "Book before going: the cabins near Balestrand, the guesthouse, the car, and a table at the fish "
        "restaurant in Bergen for the first evening. The ferries and the mountain roads need no booking, "
        "but Trollstigen only opens once the snow is cleared, usually in late May, so check the road "
        "status the week before. Keep some kroner in cash for the honesty boxes at the farm stalls; the "
        "strawberries there are the best.\n\n"
        "Pack for every weather: waterproofs, fleeces, walking boots, midge spray, and an eye mask because "
        "it barely gets dark in June. Download offline maps, the signal disappears in the valleys. Fill up "
        "whenever the tank is half empty, since fuel stations can be far apart in the mountains.",
        ("driving holiday along the fjords", "scandinavia itinerary with the car"),
        rare=("Geiranger", "Balestrand"),
        file_name="roadtrip_fjorde.md",
    ),
    PoolNote(
        "lost_luggage",
        "Suitcase did not arrive",
        "Waited at the carousel for an hour, then filed a report at the baggage desk. They gave a file "
        "number and said it would come on the next flight and be delivered to the hotel. Keep the receipts "
        "for toiletries and clothes bought in the meantime; the airline refunds reasonable costs.",
        ("my bag never showed up after landing", "airline misplaced my case"),
    ),
    PoolNote(
        "scuba_course",
        "Diving course",
        "Open water course: two evenings of theory and pool sessions, then four dives in the flooded "
        "quarry at the weekend. Bring a swimsuit, a towel and the medical form signed by the GP. The "
        "wetsuit there is 7 mm because the water is cold even in summer.",
        ("learning to breathe underwater", "scuba certification"),
    ),
    # ---------------------------------------------------------------- hobbies
    PoolNote(
        "beekeeping",
        "Bee diary",
        "April: first full inspection on a warm afternoon. Both colonies came through the winter; the "
        "strong one has brood on six frames, the weaker one on three. Saw the queen in hive two, marked "
        "with a dot on her back last year. Added a super to hive one, since they were already bringing in "
        "pollen from the willows and the blackthorn.\n\n"
        "May: swarm season. Inspect every seven days and look for queen cells along the bottom of the "
        "frames. Hive one had four capped cells on the 12th, so I did an artificial swarm: moved the old "
        "queen with one frame of brood to a new box on the old site, and left the cells in the original "
        "hive on a new stand a metre away. Calm bees for once; the Buckfast strain really is gentle.\n\n"
        "August: the mite count on the tray after a week was over forty, far too many. Treat both hives "
        "after taking the honey off and before the winter bees are raised. Narrow the entrances so wasps "
        "cannot rob the weaker colony.\n\n"
        "Harvest: took off three supers in the first week of August, with the clearer board on the night "
        "before so the boxes were almost empty of bees. Borrowed the club's extractor and got 23 kg of "
        "honey in all. It set quickly, which means a lot of oilseed rape. Jars labelled and given to the "
        "neighbours whose gardens they forage in. Feed syrup in September until each hive feels heavy when "
        "lifted at the back.\n\n"
        "Winter jobs: mouse guards on the entrances in October and a brick on each roof against the gales. "
        "Heft the hives once a month without opening them; if one feels light in February, give it a block "
        "of fondant over the crown board. Clean and scorch the spare frames and boxes, melt the old comb "
        "down for wax, and order new foundation before the spring rush.",
        ("looking after the hives", "how much honey did we get this year"),
        rare=("Buckfast",),
    ),
    PoolNote(
        "nest_box",
        "Nest box",
        "Made a nest box from cedar offcuts: 15 cm wide, with a 28 mm entrance hole so only small tits can "
        "get in, and no perch under the hole. Fixed it 2 m up the fence facing north-east, out of the hot "
        "afternoon sun. Clean it out in October.",
        ("little wooden house for garden birds", "building a bird box"),
    ),
    PoolNote(
        "painting_class",
        "Painting class",
        "Tuesday evening class at the community centre. This week: wet-on-wet skies, and letting washes "
        "dry before adding detail. Buy a proper round brush, size 8, and cold-pressed 300 gsm paper so it "
        "does not buckle. Homework is a small landscape from a holiday photo.",
        ("art lessons with paints and brushes", "watercolour techniques"),
        phrases=("wet-on-wet",),
    ),
    PoolNote(
        "choir",
        "Choir",
        "Rehearsals on Thursdays at 7:30 in the church hall. I have moved to the altos. Learn the second "
        "part of the Rutter piece by ear from the practice recording. The winter concert is on 14 "
        "December: black clothes, folders provided.",
        ("singing group practice", "what to wear for the december performance"),
        rare=("Rutter",),
    ),
    PoolNote(
        "learning_spanish",
        "Learning Spanish",
        "Goal: hold a simple conversation by the time we go to Seville next spring. Order food, ask the "
        "way, and chat with Lucía's family without switching to English after two sentences.\n\n"
        "Routine: fifteen minutes on the app every morning with breakfast, keeping the streak going even on "
        "busy days. A slow podcast for learners on the walk to work, twice through: once just listening, "
        "once repeating out loud. On Sundays, write a short diary entry of five or six sentences about the "
        "week and ask Lucía to correct it. Evenings are too tired for anything new, so at most ten "
        "minutes of going over old words before bed.\n\n"
        "Conversation: we meet on Wednesday evenings by video, half an hour in Spanish and half an hour in "
        "English, since she is practising too. She says my pronunciation is fine but I speak too slowly "
        "and translate everything in my head first. Next step: stop preparing sentences and just talk, "
        "mistakes and all.\n\n"
        "Hard bits: the two verbs for 'to be', where I still guess half the time; the subjunctive, which I "
        "avoid completely; and the speed of real speech in films. Watching a series with Spanish subtitles "
        "instead of English ones helps more than I expected.\n\n"
        "Vocabulary: a notebook of new words from each session, ten at a time, tested on the bus with the "
        "flashcard app. Words for food and directions first, since that is what the trip needs. I also "
        "want to read a graded reader at the easiest level by the summer, and listen to the radio news in "
        "Spanish once a week even if I only follow half of it. If the progress checks keep improving, a "
        "week-long course in Seville would be the reward.\n\n"
        "At the end of each month, record myself talking for two minutes about something without notes, "
        "and compare it with the previous recording.",
        ("practising a foreign language every day", "language exchange partner"),
        rare=("Lucía",),
    ),
    PoolNote(
        "bouldering",
        "Bouldering",
        "Started going to the bouldering wall on Mondays and Fridays. The shoes should be tight, about a "
        "size below street shoes. Warm up on the easy problems, tape the fingers when the skin splits, and "
        "land with bent knees on the mats.",
        ("scaling walls at the gym", "indoor climbing sessions"),
    ),
    PoolNote(
        "fishing",
        "Fishing trip",
        "Saturday on the river with Uncle Rob, leaving at 5 to be at the water by first light. Need the rod "
        "licence (online, 30 for the year), waders and a flask. Trout season opens in March; catch and "
        "release on the upper stretch.",
        ("angling weekend", "what permit do I need to catch trout"),
    ),
    PoolNote(
        "jigsaw",
        "Jigsaw",
        "Started the 1000-piece puzzle of the harbour on the dining table. Edges done, the rest sorted into "
        "sky, water and boats. One piece seems to be missing; look under the sofa before blaming the cat.",
        ("thousand piece picture we are putting together",),
    ),
    PoolNote(
        "records",
        "Record collection",
        "The turntable runs slow because the drive belt has stretched; order a replacement for the model. "
        "Record fair at the town hall on the second Saturday of the month. Want list: early Joni Mitchell, "
        "a clean copy of Rumours, any Stax soul compilation.",
        ("old albums on vinyl", "turntable spinning too slowly"),
        rare=("Stax",),
    ),
    # ---------------------------------------------------------------- school and family
    PoolNote(
        "school_play",
        "School play costume",
        "Leo is a sheep in the nativity. Costume by Friday: a hooded top covered in cotton wool balls, ears "
        "on a headband, and tights. The show is Wednesday at 2 in the school hall; two tickets per family.",
        ("outfit for my son's performance at school", "dressing up as a farm animal"),
    ),
    PoolNote(
        "revision",
        "Revision timetable",
        "Exams start on 15 May. Two subjects a day in blocks of 25 minutes with 5-minute breaks, past papers "
        "at the weekend. German and maths need the most time. Phone in another room while working, and a "
        "proper break every evening.",
        ("study plan before the tests", "preparing for finals"),
    ),
    PoolNote(
        "driving_lessons",
        "Driving lessons for Mia",
        "Mia has lessons with Gareth on Tuesdays after school, 38 an hour. The theory test is booked for 19 "
        "June; practise the hazard perception clips. Add her as a learner on our car so she can practise "
        "at weekends.",
        ("teenager learning to drive", "passing the written part of the driving test"),
    ),
    PoolNote(
        "screen_rules",
        "Screen rules",
        "Agreed with the kids: phones go in the basket in the kitchen at 9 on school nights, 10 at weekends. "
        "No phones at the dinner table. Gaming only after homework, two hours at most on Saturdays. Review "
        "it at half term.",
        ("limits on devices for the children", "how long can the kids play video games"),
    ),
    PoolNote(
        "baby_names",
        "Baby name shortlist",
        "Girls: Ottilie, Nell, Iris. Boys: Rafferty, Arlo, Felix. We both like Iris and Arlo best so far. "
        "Check how the initials sound with the surname, and tell the grandparents only after the birth.",
        ("what to call our child",),
        rare=("Rafferty", "Ottilie"),
        file_name="Namensliste.txt",
    ),
    PoolNote(
        "christening",
        "Christening",
        "Noah's christening is on Sunday at 10 at St Anne's, then lunch at the pub. I am a godparent, so "
        "practise the words in the order of service. Gift: a silver money box engraved with his name and "
        "the date.",
        ("nephew's baptism", "godfather duties"),
    ),
    # ---------------------------------------------------------------- admin
    PoolNote(
        "library_books",
        "Library books",
        "Three books are a week overdue. Renew them online with the card number and PIN, three renewals at "
        "most. The children's books have no fines but the DVD does. The branch is closed on Wednesdays.",
        ("books I borrowed are late", "returning the loans from the library"),
    ),
    PoolNote(
        "jury_service",
        "Jury service",
        "Summons for jury service from 4 March at the crown court, for two weeks. Send the reply form within "
        "seven days. Tell work: they must give the time off, and the court pays a loss-of-earnings "
        "allowance if the salary stops.",
        ("summoned to sit on a trial", "court duty letter"),
        phrases=("loss-of-earnings allowance",),
    ),
    PoolNote(
        "name_change",
        "Changing my surname",
        "After the wedding: order copies of the marriage certificate, then change the name with the bank, "
        "the GP, the employer, the electoral roll and the utility accounts. Do the travel documents last, "
        "and not before any trips that are already booked.",
        ("taking my spouse's last name paperwork",),
    ),
    # ---------------------------------------------------------------- tech
    PoolNote(
        "robot_vacuum",
        "Robot vacuum",
        "The robot vacuum has mapped the ground floor. Set a no-go zone around the cables behind the TV and "
        "the rug with tassels. It runs at 11 on weekdays; empty the bin and clean the brushes on Fridays.",
        ("automatic floor cleaner settings",),
    ),
    PoolNote(
        "smart_speaker",
        "Smart speaker",
        "Set up voice profiles so the speaker knows whose calendar to read out. Turned off voice purchasing "
        "after the kids ordered three tubs of slime. Morning routine: news, weather, and a reminder about "
        "the bins on Monday nights.",
        ("voice assistant settings", "kids bought things by talking to the gadget"),
    ),
    # ---------------------------------------------------------------- cooking
    PoolNote(
        "risotto",
        "Mushroom risotto",
        "Soak 20 g dried porcini in hot water. Soften a shallot in butter, toast 300 g arborio, splash in "
        "white wine, then add hot stock a ladle at a time, stirring, for 18 minutes. At the end stir in the "
        "mushrooms, their soaking liquid, parmesan and a knob of butter.",
        ("creamy rice dish with fungi", "italian rice supper"),
    ),
    PoolNote(
        "kimchi",
        "Kimchi",
        "Salt a napa cabbage for two hours and rinse it well. Paste: garlic, ginger, fish sauce, a spoon of "
        "sugar and gochugaru. Massage it into the leaves with spring onions and radish, pack tightly into a "
        "jar and leave on the counter for two days, opening it daily to let the gas out, then refrigerate.",
        ("fermented korean cabbage", "spicy pickled vegetables to make at home"),
        rare=("gochugaru",),
    ),
    PoolNote(
        "plum_jam",
        "Plum jam",
        "From the tree: 2 kg plums, stoned, and 1.6 kg sugar. Boil hard until a spoonful wrinkles on a cold "
        "saucer, about 15 minutes. Pour into jars sterilised in the oven at 140 and seal while hot. Made "
        "eleven jars.",
        ("how much sugar goes in the jam", "making a sweet spread for toast"),
    ),
    PoolNote(
        "dumplings",
        "Dumplings",
        "Filling: pork mince, chopped chives, ginger, soy and a little sesame oil. Put a teaspoon in each "
        "wrapper, wet the edge and pleat it shut. Freeze them on a tray before bagging so they do not "
        "stick. Fry, then add a splash of water and cover so they steam.",
        ("folding little parcels of dough with meat", "potstickers"),
    ),
    PoolNote(
        "gingerbread_house",
        "Gingerbread house",
        "Make the dough the day before so it firms up in the fridge. Cut the walls and the roof from the "
        "cardboard templates, bake at 180 for 12 minutes and trim while warm. Glue with royal icing and let "
        "it set overnight before the kids decorate it with sweets.",
        ("christmas baking project with the kids",),
    ),
    # ---------------------------------------------------------------- garden
    PoolNote(
        "greenhouse_winter",
        "Greenhouse in winter",
        "Bubble wrap on the inside of the glass, and the paraffin heater on frosty nights to keep it above "
        "5 degrees. The geraniums and the chilli plants spend the winter in there. Open the vent on sunny "
        "days so mould does not start.",
        ("protecting tender plants from frost", "keeping the glasshouse warm"),
    ),
    PoolNote(
        "hedge",
        "Hedge",
        "Trim the privet after the end of August, when the birds have finished nesting. Borrow Gwen's "
        "long-reach trimmer for the top. Lay a tarp along the bottom to catch the clippings; the garden "
        "waste collection takes them.",
        ("cutting back the bushes along the boundary",),
    ),
    PoolNote(
        "pond",
        "Pond",
        "Frogspawn in the pond again, three clumps near the shallow edge. Do not move it and do not add "
        "fish. Put a ramp of stones at one side so hedgehogs can climb out, and clear the blanket weed by "
        "twisting it round a stick.",
        ("tadpoles in the garden water", "wildlife in the water feature"),
        phrases=("blanket weed",),
    ),
    PoolNote(
        "apples",
        "Apples",
        "The old Bramley gave a huge crop this year. Store only the unblemished ones, each wrapped in paper, "
        "in single layers in the garage. Bruised ones go into crumble or get stewed and frozen. Check the "
        "stored ones every week, because one rotten apple spoils the tray.",
        ("keeping fruit from our tree through the winter",),
        rare=("Bramley",),
    ),
    PoolNote(
        "meadow",
        "Wildflower patch",
        "Turned the strip at the bottom of the lawn into a meadow. Strip off the turf, because wild flowers "
        "like poor soil, sow the native seed mix in September and never feed it. Cut it once in late "
        "summer and leave the hay for a few days to drop its seed before raking it off.",
        ("sowing flowers for insects", "letting part of the grass grow long"),
    ),
    # ---------------------------------------------------------------- animals
    PoolNote(
        "hens",
        "Hens",
        "Three hens from the rescue: Pepper, Dot and Mabel. The coop must be fox-proof, with the mesh buried "
        "30 cm down and the door shut at dusk. Layers pellets, grit and fresh water every day. Expect about "
        "two eggs a day in summer, fewer in winter.",
        ("keeping poultry in the back garden", "looking after the birds that lay eggs"),
    ),
    PoolNote(
        "tortoise",
        "Hibernation",
        "Horace goes into the fridge for hibernation from November, at a steady 5 degrees, for ten weeks. "
        "Weigh him every week; if he loses more than a tenth of his weight, wake him up. Bathe him in "
        "lukewarm water when he comes out and offer dandelion leaves.",
        ("our reptile sleeping through the cold months",),
        rare=("Horace",),
    ),
    PoolNote(
        "parrot",
        "Kiki",
        "Kiki the African grey picks at her feathers when she is bored. Rotate her toys every week, give "
        "her cardboard boxes to shred, and an hour out of the cage every evening. She now says hello in my "
        "mother's voice.",
        ("pet bird pulling out its plumage", "toys for a talking bird"),
    ),
    # ---------------------------------------------------------------- car
    PoolNote(
        "ev_charging",
        "Charging the electric car",
        "Home charger fitted on the driveway. Charge overnight on the off-peak tariff, 00:30 to 4:30 at 7p "
        "a unit. Keep the battery between 20 and 80% day to day and fill it to 100% only before long trips. "
        "Public rapid chargers are in the app; most need the card.",
        ("plugging in the battery car at night", "cheap overnight electricity rate"),
    ),
    PoolNote(
        "selling_car",
        "Selling the old car",
        "Get it valeted, find the logbook and the full service history, and take photos on a dry day. The "
        "online valuation said 4,200 trade and 5,000 private. Cash or a cleared bank transfer only, and "
        "tell the licensing agency the same day it goes.",
        ("getting rid of our old vehicle", "how much is my motor worth"),
    ),
    PoolNote(
        "roof_box",
        "Roof box",
        "Borrowed a roof box for the summer drive. The maximum roof load is 75 kg including the bars and the "
        "box, so heavy things go in the boot. With it on, the car is 1.95 m high: mind the height barriers "
        "at car parks. Fuel use goes up by about 15%.",
        ("extra luggage space on top of the car",),
    ),
    # ---------------------------------------------------------------- shopping
    PoolNote(
        "mattress",
        "New mattress",
        "The old mattress sags in the middle and my back aches in the morning. Tried a few in the shop: "
        "medium-firm hybrid, 150 cm, about 600. Buying online with a 100-night trial instead, and they take "
        "the old one away.",
        ("waking up sore from a saggy bed",),
        phrases=("100-night trial",),
    ),
    PoolNote(
        "winter_coat",
        "Winter coat",
        "Ordered the down parka in M and L to compare; send back the one that does not fit within 14 days. "
        "It should cover the hips and have a hood that goes over a hat. The old one goes to the charity "
        "shop.",
        ("warm jacket for the cold months",),
    ),
    PoolNote(
        "pram",
        "Second-hand pram",
        "Found a pram on the local selling page for 120, with the carrycot and the rain cover. Check the "
        "brakes, the fold and the harness buckles before paying, and look for rust on the frame. The car "
        "seat adapters are sold separately.",
        ("used pushchair for the baby", "buying a stroller from someone local"),
    ),
    PoolNote(
        "shopping_list",
        "Shopping",
        "oat milk\nrye bread\nlemons\nspinach\nfilter papers\nbin bags\nAA batteries\nbirthday card for Sue",
        ("groceries to pick up", "things to get at the shop"),
    ),
    PoolNote(
        "dry_cleaning",
        "Dry cleaning",
        "Ticket 48, ready Thursday after 4.",
        ("when can I collect my clothes from the cleaners",),
    ),
    PoolNote(
        "ladder",
        "Ladder",
        "Ask Imogen if we can borrow her ladder on Saturday.",
        ("who can lend us some steps",),
        rare=("Imogen",),
    ),
    PoolNote(
        "lighthouse",
        "lighthouse",
        "",
        ("the coastal tower that guides ships",),
        rare=("lighthouse",),
    ),
    # ---------------------------------------------------------------- events
    PoolNote(
        "retirement",
        "Gwendolyn's retirement",
        "Gwendolyn retires after 31 years in accounts. The collection envelope is going round, target 300, "
        "for a garden voucher and flowers. Book the function room at the Plough for Friday the 28th, and "
        "ask people for memories for the card. I will say a few words.",
        ("leaving do for a long-serving colleague", "farewell gift collection at the office"),
        rare=("Gwendolyn",),
    ),
    PoolNote(
        "escape_room",
        "Escape room",
        "Booked the escape room for six on Saturday at 3, the 60-minute one set in a submarine. Arrive 15 "
        "minutes early for the briefing. Pizza next door afterwards.",
        ("puzzle game with friends where you get locked in",),
    ),
    PoolNote(
        "halloween",
        "Halloween",
        "Costumes: a witch for Ava and a skeleton for Leo. Carve the pumpkins on Friday evening. Buy two big "
        "bags of sweets for the trick-or-treaters and leave the porch light on so they know to knock. Back "
        "by 7 for bath time.",
        ("spooky dress-up night for the kids",),
    ),
    PoolNote(
        "new_year",
        "New Year's Eve",
        "Hosting this year: eight adults, the kids sleep upstairs. Everyone brings a plate of food; we do the "
        "drinks and the fireworks at midnight. Taxi numbers ready, and the spare room for anyone who cannot "
        "get home.",
        ("plans for the last night of the year", "hosting the 31 december party"),
    ),
]

# Queries that match nothing in any world: no note is about these, and no photo shows them (the
# photo-like ones describe scenes, never a colour or a shape of the photo world).
OFFTOPIC_QUERIES: list[str] = [
    "causes of the first world war",
    "who painted the sistine chapel ceiling",
    "how do black holes form",
    "boiling point of liquid nitrogen",
    "the theory of plate tectonics",
    "how vaccines train the immune system",
    "quantum entanglement explained simply",
    "who won wimbledon in 2008",
    "the offside rule in football",
    "olympic 100 metres world record",
    "formula one championship standings",
    "Beyoncé world tour dates",
    "Elvis Presley's early life",
    "how tall is the Eiffel Tower",
    "the fall of the Berlin Wall",
    "Napoleon's retreat from Moscow",
    "Roman emperors in order",
    "who invented the telephone",
    "Marie Curie's discoveries",
    "the plot of Hamlet",
    "prime numbers and cryptography",
    "the meaning of life",
    "what is consciousness",
    "free will versus determinism",
    "the population of Brazil",
    "volcanic eruption in Iceland",
    "a dog on a beach at sunset",
    "a crowded city street at night with neon signs",
    "a horse galloping across a field",
    "close-up of a tiger's face",
    "a steam train on a viaduct",
    "a hot air balloon over the desert",
    "an astronaut floating in space",
    "sunflowers in a vase",
]

# Distinctive photo names (the rest are IMG_0000.jpg ...), with words of the name that a person might
# type on their own (name-word queries).
SPECIAL_PHOTO_NAMES: list[tuple[str, tuple[str, ...]]] = [
    ("kilimanjaro-summit.jpg", ("kilimanjaro",)),
    ("Hochzeit_Lena_Jannik.png", ("Hochzeit",)),
    ("P1040871.JPG", ()),
    ("Screenshot 2023-11-02 at 10.14.52.png", ()),
    ("DSC_0457_edit.jpg", ()),
    ("Seebrücke_Ahlbeck.jpg", ("Ahlbeck",)),
]

# Words no note may contain, so that photo queries have no right answer among the notes.
PHOTO_WORDS: frozenset[str] = frozenset(
    list(COLOURS) + list(SHAPES) + ["stars", "circles", "squares", "triangles", "crosses", "rings"]
)

_PLURAL = {"cross": "crosses"}

# Ways to ask for the photos of one colour and shape ({c} colour, {s} shape, {p} plural).
_PAIR_TEMPLATES: tuple[str, ...] = (
    "{c} {s}",
    "a {s} that is {c}",
    "picture of a {c} {s}",
    "photo of a {c} {s}",
    "the {c} {s}",
    "{c} {s} picture",
    "{c} {p}",
    "a {s} in {c}",
    "image with a {c} {s}",
    "{C} {s}",
    "show me the {c} {s}",
)
# Ways to ask for all photos of one colour, or of one shape.
_COLOUR_TEMPLATES: tuple[str, ...] = (
    "something {c}",
    "{c} shapes",
    "{c} things",
    "everything that is {c}",
    "pictures with {c} in them",
)
_SHAPE_TEMPLATES: tuple[str, ...] = (
    "{p}",
    "{p} of any colour",
    "all the {p}",
    "pictures of {p}",
    "a {s} in any colour",
)

_PHOTO_DIRS = ("Photos", "Photos/2019", "Photos/2021", "Photos/2021/phone")
_NOTE_DIRS = ("Notes", "Notes", "Notes/archive")
_SEPARATORS = re.compile(r"[\s_\-.()]+")


# -------------------------------------------------------------------------------------- the world

LabelledQuery = tuple[str, frozenset[Path]]


@dataclass
class World:
    """A generated library and its labelled queries.

    Every set of right paths is a frozenset of the `Path`s written (compare with `Path(result.path)`
    or `str(p)`); no set is empty, and every query's targets exist in this world.

    Attributes:
        root: the folder holding everything (photos under Photos/, notes under Notes/).
        photos: the photo files, in the order written.
        notes: the note files, in the order written.
        photo_captions: photo -> its caption, e.g. "a red circle".
        note_keys: note -> the `PoolNote.key` it was written from (copies share a key).
        photo_queries: a colour and a shape in several wordings -> every photo of that caption.
        note_queries: a paraphrase of one pool note -> every copy of that note.
        multi_queries: one colour ("something red") or one shape ("stars") -> all its photos.
        offtopic_queries: queries with no right answer.
        exact_queries: a name, a stem, a code, a rare word or an exact phrase -> the files carrying it.
        exact_kinds: exact query -> "name" (a whole file name), "stem" (a file name without its
            extension), "name-word" (one word of a distinctive file name), "word" (a rare name or word
            of a note) or "phrase" (an exact phrase of a note).
    """

    root: Path
    photos: list[Path] = field(default_factory=list)
    notes: list[Path] = field(default_factory=list)
    photo_captions: dict[Path, str] = field(default_factory=dict)
    note_keys: dict[Path, str] = field(default_factory=dict)
    photo_queries: list[LabelledQuery] = field(default_factory=list)
    note_queries: list[LabelledQuery] = field(default_factory=list)
    multi_queries: list[LabelledQuery] = field(default_factory=list)
    offtopic_queries: list[str] = field(default_factory=list)
    exact_queries: list[LabelledQuery] = field(default_factory=list)
    exact_kinds: dict[str, str] = field(default_factory=dict)

    @property
    def paths(self) -> list[Path]:
        """Every file of the world, photos first."""
        return [*self.photos, *self.notes]

    def counts(self) -> dict[str, int]:
        """How many files and queries of each kind the world holds."""
        return {
            "photos": len(self.photos),
            "notes": len(self.notes),
            "photo_queries": len(self.photo_queries),
            "note_queries": len(self.note_queries),
            "multi_queries": len(self.multi_queries),
            "offtopic_queries": len(self.offtopic_queries),
            "exact_queries": len(self.exact_queries),
        }


def make_world(
    root: Path,
    *,
    photos: int,
    notes: int,
    seed: int,
    photo_size: tuple[int, int] = (96, 96),
    photo_phrasings: int = 3,
    multi_phrasings: int = 2,
) -> World:
    """Write a library of shape photos and notes under `root` and label queries for it.

    Photos cycle through every colour x shape pair in a seeded order (so a pair has
    `photos // 36` or one more photos), alternate jpg and png, and are spread over a few
    subfolders of Photos/. A few get distinctive names (`SPECIAL_PHOTO_NAMES`), the rest
    IMG_0000.jpg ... Notes are drawn from `NOTE_POOL` in a seeded order; past the pool's size they
    cycle, each further copy lightly varied (a date line, a version in the title, one sentence a
    line) but with the same content, so its labels still hold. The first copy of a pool note with a
    `file_name` is written under that name, the rest as note-000.md, note-001.txt ...

    Args:
        root: the folder to fill (created if needed); should be empty.
        photos: how many photos (0 or more).
        notes: how many notes (0 or more).
        seed: varies the pair order, the note order, the renders and the query wordings.
        photo_size: (width, height) of each photo.
        photo_phrasings: wordings per colour x shape pair present, the caption ("a red circle")
            always among them; at most 1 + the number of templates.
        multi_phrasings: wordings per colour and per shape with at least two photos.

    Returns:
        The world: its files and its labelled queries.
    """
    root = Path(root)
    rng = random.Random(f"worlds|{seed}")
    world = World(root=root)
    _write_photos(world, photos, seed, photo_size, rng)
    _write_notes(world, notes, rng)
    _label_photo_queries(world, rng, photo_phrasings, multi_phrasings)
    _label_note_queries(world)
    world.offtopic_queries = list(OFFTOPIC_QUERIES)
    _label_exact_queries(world, rng)
    return world


def _save_image(img: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        img.save(path, "JPEG", quality=90)
    else:
        img.save(path, "PNG", compress_level=1)


def _write_photos(world: World, n: int, seed: int, size: tuple[int, int], rng: random.Random) -> None:
    pairs = [(c, s) for c in COLOURS for s in SHAPES]
    rng.shuffle(pairs)
    n_special = min(len(SPECIAL_PHOTO_NAMES), max(1, n // 10)) if n else 0
    names = rng.sample(SPECIAL_PHOTO_NAMES, n_special)
    special_at = dict(zip(sorted(rng.sample(range(n), n_special)), names, strict=True))
    width = max(4, len(str(max(n - 1, 0))))
    for i in range(n):
        colour, shape = pairs[i % len(pairs)]
        folder = world.root / _PHOTO_DIRS[i % len(_PHOTO_DIRS)]
        name = special_at[i][0] if i in special_at else f"IMG_{i:0{width}d}.{('jpg', 'png')[i % 2]}"
        path = folder / name
        _save_image(render_shape(colour, shape, size=size, seed=seed * 1_000_003 + i), path)
        world.photos.append(path)
        world.photo_captions[path] = caption(colour, shape)


def _varied_text(note: PoolNote, copy: int, md: bool, rng: random.Random) -> str:
    """The file text of copy `copy` (0 = as in the pool) of a note; every copy keeps all its words."""
    title, body = note.title, note.body
    date = ""
    kind = (copy - 1) % 3 if copy else -1
    if kind == 0:
        date = f"{rng.randint(2018, 2021)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    elif kind == 1:
        title = f"{title} v{copy + 1}"
    elif kind == 2 and body and "\n" not in body:
        body = "\n".join(f"- {s}" for s in re.split(r"(?<=[.!?])\s+", body))
    head = f"# {title}" if md else title
    parts = [p for p in (date, head, body) if p]
    return "\n\n".join(parts) + "\n"


def _write_notes(world: World, n: int, rng: random.Random) -> None:
    order = list(range(len(NOTE_POOL)))
    rng.shuffle(order)
    for i in range(n):
        note = NOTE_POOL[order[i % len(order)]]
        copy = i // len(order)
        folder = world.root / _NOTE_DIRS[i % len(_NOTE_DIRS)]
        if copy == 0 and note.file_name:
            path = folder / note.file_name
        else:
            path = folder / f"note-{i:03d}.{('md', 'txt')[i % 2]}"
        md = path.suffix == ".md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_varied_text(note, copy, md, rng), encoding="utf-8")
        world.notes.append(path)
        world.note_keys[path] = note.key


def _label_photo_queries(world: World, rng: random.Random, phrasings: int, multi: int) -> None:
    by_pair: dict[tuple[str, str], set[Path]] = {}
    for path, cap in world.photo_captions.items():
        _a, colour, shape = cap.split(" ", 2)
        by_pair.setdefault((colour, shape), set()).add(path)
    for (colour, shape), right in sorted(by_pair.items()):
        fmt = {"c": colour, "C": colour.capitalize(), "s": shape, "p": _PLURAL.get(shape, shape + "s")}
        wordings = [caption(colour, shape)]
        wordings += [t.format(**fmt) for t in rng.sample(_PAIR_TEMPLATES, max(0, phrasings - 1))]
        world.photo_queries += [(q, frozenset(right)) for q in wordings]
    for templates, index in ((_COLOUR_TEMPLATES, 0), (_SHAPE_TEMPLATES, 1)):
        groups: dict[str, set[Path]] = {}
        for pair, paths in by_pair.items():
            groups.setdefault(pair[index], set()).update(paths)
        for value, right in sorted(groups.items()):
            if len(right) < 2:
                continue
            fmt = {"c": value, "s": value, "p": _PLURAL.get(value, value + "s")}
            for t in rng.sample(templates, min(multi, len(templates))):
                world.multi_queries.append((t.format(**fmt), frozenset(right)))


def _label_note_queries(world: World) -> None:
    by_key: dict[str, set[Path]] = {}
    for path, key in world.note_keys.items():
        by_key.setdefault(key, set()).add(path)
    for note in NOTE_POOL:
        if note.key in by_key:
            world.note_queries += [(q, frozenset(by_key[note.key])) for q in note.queries]


def _word_re(term: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)


def _name_words(path: Path) -> set[str]:
    return {w.casefold() for w in _SEPARATORS.split(path.stem) if w}


def _carriers(world: World, term: str, texts: dict[Path, str]) -> frozenset[Path]:
    """Files whose text holds `term` as a word or phrase, or whose name holds it as a word."""
    pattern = _word_re(term)
    hits = {p for p, text in texts.items() if pattern.search(text)}
    if " " not in term:
        hits |= {p for p in world.paths if term.casefold() in _name_words(p)}
    return frozenset(hits)


def _add_exact(world: World, query: str, right: frozenset[Path], kind: str) -> None:
    if right and query not in world.exact_kinds:
        world.exact_queries.append((query, right))
        world.exact_kinds[query] = kind


def _label_exact_queries(world: World, rng: random.Random) -> None:
    texts = {p: p.read_text(encoding="utf-8") for p in world.notes}
    special_photos = {name: words for name, words in SPECIAL_PHOTO_NAMES}
    special_notes = {n.file_name for n in NOTE_POOL if n.file_name}
    for path in world.paths:
        if path.name in special_photos or path.name in special_notes:
            _add_exact(world, path.name, frozenset({path}), "name")
            _add_exact(world, path.stem, frozenset({path}), "stem")
            for word in special_photos.get(path.name, ()):
                _add_exact(world, word, _carriers(world, word, texts), "name-word")
    neutral_photos = [p for p in world.photos if p.name not in special_photos]
    for path in rng.sample(neutral_photos, min(3, len(neutral_photos))):
        _add_exact(world, path.stem, frozenset({path}), "stem")
    neutral_notes = [p for p in world.notes if p.name not in special_notes]
    for path in rng.sample(neutral_notes, min(1, len(neutral_notes))):
        _add_exact(world, path.stem, frozenset({path}), "stem")
    present = set(world.note_keys.values())
    for note in NOTE_POOL:
        if note.key not in present:
            continue
        for term in note.rare:
            _add_exact(world, term, _carriers(world, term, texts), "word")
        for phrase in note.phrases:
            _add_exact(world, phrase, _carriers(world, phrase, texts), "phrase")


# --------------------------------------------------------------------------------------- checking


def check_pool() -> list[str]:
    """Check the invariants the labels rely on; returns the problems found (none when all hold).

    - keys are unique, every note has a query, and queries are 1-9 words;
    - every rare word and exact phrase occurs in its own note and in no other;
    - no note, and no off-topic query, holds a colour or a shape word of the photo world;
    - no distinctive file name shares a word with any note or off-topic query.
    """
    problems: list[str] = []
    keys = [n.key for n in NOTE_POOL]
    if len(set(keys)) != len(keys):
        problems.append("duplicate keys")
    texts = {n.key: n.text for n in NOTE_POOL}
    for note in NOTE_POOL:
        if not note.queries:
            problems.append(f"{note.key}: no query")
        for q in note.queries:
            if not 1 <= len(q.split()) <= 9:
                problems.append(f"{note.key}: query of {len(q.split())} words: {q!r}")
        for term in (*note.rare, *note.phrases):
            found = [k for k, t in texts.items() if _word_re(term).search(t)]
            if found != [note.key]:
                problems.append(f"{note.key}: {term!r} found in {found}")
    word = re.compile(r"[\w'-]+")
    for key, text in texts.items():
        bad = {w for w in word.findall(text.casefold()) if w in PHOTO_WORDS}
        if bad:
            problems.append(f"{key}: photo words {sorted(bad)}")
    for q in OFFTOPIC_QUERIES:
        bad = {w for w in word.findall(q.casefold()) if w in PHOTO_WORDS}
        if bad:
            problems.append(f"off-topic {q!r}: photo words {sorted(bad)}")
    names = [name for name, _ in SPECIAL_PHOTO_NAMES] + [n.file_name for n in NOTE_POOL if n.file_name]
    corpus = " ".join([*texts.values(), *OFFTOPIC_QUERIES])
    for name in names:
        for w in _name_words(Path(name)):
            if len(w) > 2 and not w.isdigit() and _word_re(w).search(corpus):
                problems.append(f"file name {name!r}: word {w!r} occurs in a note or an off-topic query")
    return problems
