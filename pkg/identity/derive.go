package identity

import "sort"

// DeriveAll returns Derive(purpose) followed by the same derivation from every other key of the
// ring (in key id order). Something sealed under a derived key (page tokens) then rotates with
// the ring: the signing key's derivation seals, and what an older key sealed still opens for as
// long as that key stays listed.
func (kr *Keyring) DeriveAll(purpose string) [][]byte {
	out := [][]byte{kr.Derive(purpose)}
	kids := make([]string, 0, len(kr.keys))
	for kid := range kr.keys {
		if kid != kr.signID {
			kids = append(kids, kid)
		}
	}
	sort.Strings(kids)
	for _, kid := range kids {
		// A ring signing with kid derives exactly what this ring did while kid was its signer.
		out = append(out, (&Keyring{signID: kid, keys: kr.keys}).Derive(purpose))
	}
	return out
}
