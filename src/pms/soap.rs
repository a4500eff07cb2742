//! SOAP 1.1 plumbing shared by the Yardi and RealPage connectors: envelopes out, and a small
//! namespace-blind element tree in (vendors differ in prefixes, namespaces and element order, and
//! Yardi sometimes returns its result as escaped XML text inside the result element).

use quick_xml::Reader;
use quick_xml::events::Event;

use super::PmsError;
use crate::http::HttpClient;

/// An element by local name (namespace prefixes dropped), with attributes, text and children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child with this local name (ASCII case-insensitive).
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Trimmed text of the first child with this name; `None` when absent or empty.
    pub fn text_of(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.trim().to_string()).filter(|t| !t.is_empty())
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every element below this one (depth first) with this local name.
    pub fn descendants<'a>(&'a self, name: &str) -> Vec<&'a Element> {
        let mut out = Vec::new();
        let mut stack: Vec<&Element> = self.children.iter().rev().collect();
        while let Some(e) = stack.pop() {
            if e.name.eq_ignore_ascii_case(name) {
                out.push(e);
            }
            stack.extend(e.children.iter().rev());
        }
        out
    }
}

fn local(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    name.rsplit(':').next().unwrap_or_default().to_string()
}

/// Deepest nesting accepted. Real responses nest about a dozen levels; a hostile one nesting
/// thousands would make the tree's (recursive) drop, clone and comparison overflow the stack.
pub const MAX_DEPTH: usize = 128;

/// Parses a document into its root element.
pub fn parse(xml: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        // The parser's messages quote names and text from the document: position only.
        match reader.read_event().map_err(|_| format!("malformed XML at byte {}", reader.buffer_position()))? {
            Event::Start(_) if stack.len() > MAX_DEPTH => {
                return Err(format!("XML nested deeper than {MAX_DEPTH} levels"));
            }
            Event::Start(start) => {
                let mut element = Element { name: local(start.name().as_ref()), ..Element::default() };
                for attribute in start.attributes().flatten() {
                    let value = attribute.unescape_value().map(|v| v.into_owned()).unwrap_or_default();
                    element.attributes.push((local(attribute.key.as_ref()), value));
                }
                stack.push(element);
            }
            Event::Empty(empty) => {
                let mut element = Element { name: local(empty.name().as_ref()), ..Element::default() };
                for attribute in empty.attributes().flatten() {
                    let value = attribute.unescape_value().map(|v| v.into_owned()).unwrap_or_default();
                    element.attributes.push((local(attribute.key.as_ref()), value));
                }
                stack.last_mut().expect("a root").children.push(element);
            }
            Event::End(_) => {
                let done = stack.pop().expect("balanced by the reader");
                stack.last_mut().ok_or("unbalanced XML")?.children.push(done);
            }
            Event::Text(text) => {
                let decoded = text.decode().map_err(|_| "undecodable text".to_string())?;
                stack.last_mut().expect("a root").text.push_str(&decoded);
            }
            Event::CData(data) => {
                let decoded = data.decode().map_err(|_| "undecodable CDATA".to_string())?;
                stack.last_mut().expect("a root").text.push_str(&decoded);
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => {
                        let name = reference.decode().map_err(|_| "undecodable reference".to_string())?;
                        quick_xml::escape::unescape(&format!("&{name};"))
                            .map_err(|_| "unknown entity reference".to_string())?
                            .into_owned()
                    }
                };
                stack.last_mut().expect("a root").text.push_str(&resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() != 1 {
        return Err("truncated XML".into());
    }
    let mut document = stack.pop().expect("checked");
    document.children.pop().ok_or_else(|| "empty XML document".into())
}

/// Escapes text for an element's content.
pub fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

/// A SOAP 1.1 envelope around `body`.
pub fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
         <soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">\
         <soap:Body>{body}</soap:Body></soap:Envelope>"
    )
}

/// The `faultstring` (or SOAP 1.2 `Reason/Text`) of a fault, if the document is one. A body that
/// holds `faultcode` without a `Fault` wrapper is one too (RealPage answers so with HTTP 200:
/// `../shared/vendor-samples/realpage/rpx-error-and-fault-responses.json`).
pub fn fault(document: &Element) -> Option<String> {
    let wrapped = document.descendants("Fault").into_iter().next();
    let fault = match wrapped {
        Some(fault) => fault,
        None => holder_of(document, "faultcode")?,
    };
    fault
        .text_of("faultstring")
        .or_else(|| fault.descendants("Text").first().map(|t| t.text.trim().to_string()))
        .or_else(|| Some("SOAP fault without a message".into()))
}

/// The first element (depth first, the document included) with a child named `child`.
fn holder_of<'a>(document: &'a Element, child: &str) -> Option<&'a Element> {
    let mut stack = vec![document];
    while let Some(e) = stack.pop() {
        if e.child(child).is_some() {
            return Some(e);
        }
        stack.extend(e.children.iter().rev());
    }
    None
}

/// POSTs an envelope with a SOAPAction and returns the response's `result` element (searched by
/// local name). Faults come with HTTP 500, which is therefore not retried but read and mapped by
/// `on_fault`; 401/403 are rejected credentials; any other non-2xx status is a rejection.
pub async fn call(
    http: &HttpClient,
    url: &str,
    action: &str,
    envelope: String,
    result: &str,
    on_fault: impl Fn(&str) -> PmsError,
) -> Result<Element, PmsError> {
    let response = http
        .send_soap(|c| {
            c.post(url)
                .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
                .header("SOAPAction", format!("\"{action}\""))
                .body(envelope.clone())
        })
        .await?;
    let status = response.status().as_u16();
    let text = http.text(response).await.map_err(|e| PmsError::InvalidResponse(format!("SOAP response: {e}")))?;
    read_result(status, &text, result, on_fault)
}

/// The `result` element of a SOAP response with HTTP `status` and body `text`, or the error it
/// carries (see [`call`]). Pure: the fuzz targets run it on arbitrary bytes.
pub(crate) fn read_result(
    status: u16,
    text: &str,
    result: &str,
    on_fault: impl Fn(&str) -> PmsError,
) -> Result<Element, PmsError> {
    let document = parse(text).map_err(|e| PmsError::InvalidResponse(format!("not a SOAP response ({e})")))?;
    if let Some(fault) = fault(&document) {
        return Err(on_fault(&fault));
    }
    let status = reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(error) = PmsError::from_status(status) {
        return Err(error);
    }
    document
        .descendants(result)
        .into_iter()
        .next()
        .cloned()
        .ok_or_else(|| PmsError::InvalidResponse(format!("no {result} in the response")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaces_attributes_entities_and_cdata() {
        let xml = r#"<?xml version="1.0"?><s:Envelope xmlns:s="x"><s:Body><r:Thing id="7" xmlns:r="y">
            <Name>Zo&#235; &amp; Co</Name><Empty/><Note><![CDATA[<raw>]]></Note></r:Thing></s:Body></s:Envelope>"#;
        let doc = parse(xml).unwrap();
        assert_eq!(doc.name, "Envelope");
        let thing = doc.descendants("thing")[0];
        assert_eq!(thing.attribute("id"), Some("7"));
        assert_eq!(thing.text_of("Name").as_deref(), Some("Zoë & Co"));
        assert_eq!(thing.text_of("Note").as_deref(), Some("<raw>"));
        assert!(thing.child("Empty").is_some());
    }

    #[test]
    fn deep_nesting_is_refused_without_exhausting_the_stack() {
        let depth = 1_000_000;
        let xml = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        let err = parse(&xml).unwrap_err();
        assert!(err.contains("nested deeper than"), "{err}");
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn parse_errors_quote_nothing_from_the_document() {
        let err = parse("<Resident><Name>Zoë Ångström</Nme></Resident>").unwrap_err();
        assert!(!err.contains("Zo") && !err.contains("Nme"), "{err}");
    }

    #[test]
    fn finds_faults_and_rejects_truncated_documents() {
        let xml = "<soap:Envelope xmlns:soap='s'><soap:Body><soap:Fault><faultcode>soap:Server</faultcode>\
                   <faultstring>Login failed</faultstring></soap:Fault></soap:Body></soap:Envelope>";
        assert_eq!(fault(&parse(xml).unwrap()).as_deref(), Some("Login failed"));
        assert!(parse("<a><b></a>").is_err() || parse("<a><b>").is_err());
        assert!(parse("<a><b>").is_err());
    }
}
