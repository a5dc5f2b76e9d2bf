//! ChainID computation, identical to Docker's `CreateChainID`.

use metadata::{ChainId, DiffId};

/// The ChainID of a layer whose parent chain is `parent` and whose content has DiffID `diff_id`:
/// the DiffID itself for a base layer, else `sha256(parent + " " + diff_id)` over the two full
/// `sha256:<hex>` strings.
pub fn chain_id_of(parent: Option<&ChainId>, diff_id: &DiffId) -> ChainId {
    ChainId::new(parent, diff_id)
}

/// The ChainID of the layer at the top of a stack of layers with these DiffIDs, bottom first;
/// `None` for an empty list. Identical to Docker's `CreateChainID` for any list.
pub fn create_chain_id(diff_ids: &[DiffId]) -> Option<ChainId> {
    let mut chain: Option<ChainId> = None;
    for diff_id in diff_ids {
        chain = Some(chain_id_of(chain.as_ref(), diff_id));
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(hex_digit: char) -> DiffId {
        DiffId::parse(&format!("sha256:{}", hex_digit.to_string().repeat(64))).unwrap()
    }

    #[test]
    fn base_layer_chain_is_its_diff_id() {
        let d = diff('a');
        assert_eq!(
            create_chain_id(std::slice::from_ref(&d)).unwrap().as_str(),
            d.as_str()
        );
        assert!(create_chain_id(&[]).is_none());
    }

    #[test]
    fn chain_matches_independent_computation() {
        // Expected values computed independently with coreutils:
        //   printf 'sha256:aaa…a sha256:bbb…b' | sha256sum
        let ids = [diff('a'), diff('b'), diff('c')];
        let two = create_chain_id(&ids[..2]).unwrap();
        let three = create_chain_id(&ids).unwrap();
        assert_eq!(two.as_str(), include_str!("testdata/chain-ab.txt").trim());
        assert_eq!(
            three.as_str(),
            include_str!("testdata/chain-abc.txt").trim()
        );
    }
}
