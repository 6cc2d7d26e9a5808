"""Synthesis ops: the study's Syn (``regenerate_solution``), WaveCoder, Evol-Instruct, OSS-Instruct,
SelfCodeAlign, generated unit tests (``generate_tests`` + ``test_quality``, XCoder) and LLM judges
(``llm_judge``). Every op calls models through ``codecurate.models.llm`` (its cache makes a resumed run pay for no
call twice) and runs generated code only through ``codecurate.sandbox``."""
