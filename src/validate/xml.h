/* xml.h — a small, strict XML 1.0 parser into a tree, for the SVG sanitizer. Supports elements,
 * attributes (single/double quotes), the five predefined entities and numeric character references,
 * CDATA sections, comments and processing instructions. DOCTYPE (and so every ENTITY declaration) is
 * rejected outright, which rules out entity-expansion attacks. No namespaces processing: names keep their
 * prefix ("xlink:href"). It must not keep global state and must never crash on hostile input
 * (fuzz/fuzz_svg.c). Errors: GR_E_FORMAT, message "line L col C: ..." (1-based, columns count bytes). */
#ifndef GR_VALIDATE_XML_H
#define GR_VALIDATE_XML_H

#include "gemrun.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum gr_xml_kind { GR_XML_DOC, GR_XML_ELEM, GR_XML_TEXT, GR_XML_COMMENT, GR_XML_PI } gr_xml_kind;

typedef struct gr_xml_attr {
    char *name;
    char *value; /* entities decoded, literal TAB/CR/LF normalised to spaces (XML 1.0 3.3.3) */
    size_t vlen;
    size_t off; /* byte offset of the name in the input */
} gr_xml_attr;

typedef struct gr_xml_node {
    gr_xml_kind kind;
    bool cdata;  /* TEXT that came from a CDATA section */
    char *name;  /* ELEM: tag name; PI: target */
    char *text;  /* TEXT: decoded characters; COMMENT/PI: raw content */
    size_t tlen;
    gr_xml_attr *attrs;
    size_t nattrs;
    struct gr_xml_node **kids;
    size_t nkids, capkids;
    size_t off; /* byte offset where the node starts */
} gr_xml_node;

#define GR_XML_MAX_DEPTH 256
#define GR_XML_MAX_BYTES (16u << 20)

/* Parse a whole document; *doc is a GR_XML_DOC node whose children are prolog comments/PIs, the single
 * root element and trailing comments/PIs. Input must be valid UTF-8 without NUL or control characters. */
gr_status gr_xml_parse(const char *text, size_t len, gr_xml_node **doc, char *err, size_t errlen);
void gr_xml_free(gr_xml_node *n);
/* The root element of a parsed document (never NULL for a successful parse). */
const gr_xml_node *gr_xml_root(const gr_xml_node *doc);
const char *gr_xml_attr_get(const gr_xml_node *elem, const char *name);
/* 1-based line and column of byte offset off in text. */
void gr_xml_linecol(const char *text, size_t len, size_t off, int *line, int *col);

#endif
