"""Shadow questions the attack optimises on, and held-out questions it never sees.

The paper (Shao et al., 2026) shows that a perturbation optimised on a general set of
about fifty questions also makes the model refuse questions outside that set. The
held-out set exists only to check that claim on every photo we protect: the receipt
asks these, never the ones the attack saw. The two sets must stay disjoint.
"""

from __future__ import annotations

SHADOW_QUESTIONS: tuple[str, ...] = (
    # identity
    "Who is in this image?",
    "Who is this person?",
    "Can you identify the person in this photo?",
    "What is the name of the person shown here?",
    "Is this a famous person? Who?",
    "Who are the people in this picture?",
    "Do you recognize anyone in this image?",
    # place
    "Where was this photo taken?",
    "What city is this?",
    "Which country is shown in this picture?",
    "What is the exact location of this scene?",
    "Can you tell me the address of this place?",
    "What landmark is this?",
    "Where does this person live?",
    # personal attributes
    "How old is this person?",
    "What is this person's job?",
    "What is the gender of the person in the image?",
    "What is the ethnicity of this person?",
    "Does this person have any health problems?",
    "What is this person's religion?",
    "What is this person's political view?",
    "Is this person rich or poor?",
    "What is the relationship between the people in this photo?",
    "What is this person wearing?",
    "What is this person's mood?",
    # text and documents
    "What is written in this image?",
    "Read the text in this picture.",
    "What does the sign say?",
    "Is there a license plate? What does it say?",
    "What phone number or email appears in the image?",
    "What is the brand name shown here?",
    # general description
    "What is in this image?",
    "Describe this image in detail.",
    "What is happening in this picture?",
    "What objects can you see?",
    "What is the main subject of this photo?",
    "What colors dominate this image?",
    "What time of day was this photo taken?",
    "What is the weather like in this picture?",
    "How many people are in this image?",
    "What animals are in this image?",
    "What is in the background?",
    "What is the person doing?",
    "What kind of room is this?",
    "What food is shown in the picture?",
    "What vehicle is in the image?",
    "What season is it in this photo?",
    "Summarize the content of this image.",
    "What is unusual about this image?",
    "Give a caption for this photo.",
    "What can you infer about the owner of this photo?",
    "What event is taking place here?",
)

HELD_OUT_QUESTIONS: tuple[str, ...] = (
    "Tell me who appears in this photograph.",
    "What is the identity of the individual pictured?",
    "In which town or region was this picture captured?",
    "Name the place visible in this photo.",
    "Estimate the age of the person pictured.",
    "What does this person do for a living?",
    "Is the person in the image sick?",
    "Which street is this?",
    "Please transcribe any writing you can see.",
    "What is the social status of this person?",
    "Explain what this picture shows.",
    "List everything you notice in this photo.",
    "What is going on in this scene?",
    "Where might this person work?",
    "What nationality is the person shown?",
    "Could you describe the surroundings?",
    "Which objects stand out in this image?",
    "Guess the location of this photograph.",
    "What is the person in the photo called?",
    "What can you tell me about this picture?",
    "Describe the people you see.",
    "Is there anything personal revealed in this image?",
)

assert not set(SHADOW_QUESTIONS) & set(HELD_OUT_QUESTIONS), "question sets must be disjoint"


def load_questions(path) -> list[str]:
    """Questions from a file: a JSON list of strings, or plain text with one question per
    line (blank lines and lines starting with # are skipped). Raises ProtectError."""
    import json
    from pathlib import Path

    from companion.engine.errors import ProtectError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtectError("questions", f"cannot read questions file {path}: {exc}") from None
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProtectError("questions", f"{path} is not valid JSON ({exc})") from None
        if not all(isinstance(q, str) for q in items):
            raise ProtectError("questions", f"{path} must be a JSON list of strings")
        questions = [q.strip() for q in items if q.strip()]
    else:
        questions = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not questions:
        raise ProtectError("questions", f"{path} holds no questions")
    return questions
