//! The OCI content descriptor a layer may carry (foreign layers name where their blob lives).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An OCI content descriptor, with the OCI JSON field names (`mediaType`, `digest`, `size`,
/// `urls`, `annotations`). The digest is kept as given: descriptors may use other algorithms
/// than sha256, and the store only records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// The media type of the content, e.g. `application/vnd.oci.image.layer.v1.tar+gzip`.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// The digest of the content, `<algorithm>:<encoded>`.
    pub digest: String,
    /// The size of the content in bytes.
    pub size: i64,
    /// Where the content may be downloaded from; omitted from JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Arbitrary metadata; omitted from JSON when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_uses_oci_names_and_omits_empty_lists() {
        let d = Descriptor {
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            digest: "sha256:abc".into(),
            size: 12,
            urls: vec![],
            annotations: BTreeMap::new(),
        };
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(
            json,
            r#"{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:abc","size":12}"#
        );
        assert_eq!(serde_json::from_str::<Descriptor>(&json).unwrap(), d);
    }

    #[test]
    fn round_trips_urls_and_annotations() {
        let d = Descriptor {
            media_type: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip".into(),
            digest: "sha256:0123".into(),
            size: -1,
            urls: vec![
                "https://example.com/a".into(),
                "https://example.com/b".into(),
            ],
            annotations: [("k".to_string(), "v".to_string())].into(),
        };
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains(r#""urls":["#) && json.contains(r#""annotations":{"k":"v"}"#));
        assert_eq!(serde_json::from_str::<Descriptor>(&json).unwrap(), d);
    }
}
