"""Readers of bibliographic inputs, each yielding records in one shape (:data:`common.COLUMNS`).

medline_xml   PubMed EFetch XML (streaming lxml; PubmedArticle, PubmedBookArticle, DeleteCitation)
medline_text  PubMed's MEDLINE text export (.nbib, .txt)
ris           RIS exports (Embase, PsycINFO, Cochrane CENTRAL)
common        the record shape, shared helpers and :class:`~evsynth.parsers.common.RecordsInputError`

:func:`evsynth.records.read_records` picks the reader by file extension.
"""
