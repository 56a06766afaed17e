package evm

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

func TestBloomBitsMatchGoEthereum(t *testing.T) {
	addrs := []common.Address{
		common.HexToAddress("0x00000000000000000000000000000000000000aa"),
		common.HexToAddress("0x71C7656EC7ab88b098defB751B7401B5f6d8976F"),
		common.HexToAddress("0xffffffffffffffffffffffffffffffffffffffff"),
	}
	for _, a := range addrs {
		topic := common.BytesToHash(a.Bytes())
		var bloom types.Bloom
		bloom.Add(topic.Bytes())
		bits := AddressTopicBits(a)
		if !bits.In(&bloom) {
			t.Errorf("%s: bits not in a bloom holding it", a)
		}
		if !types.BloomLookup(bloom, topic) {
			t.Fatalf("go-ethereum lookup failed")
		}
		var other types.Bloom
		other.Add(common.HexToHash("0x1234").Bytes())
		if bits.In(&other) != types.BloomLookup(other, topic) {
			t.Errorf("%s: disagrees with types.BloomLookup on another bloom", a)
		}
		var onlyAddr types.Bloom
		onlyAddr.Add(a.Bytes())
		if got, want := BloomBitsOf(a.Bytes()).In(&onlyAddr), types.BloomLookup(onlyAddr, a); got != want || !got {
			t.Errorf("%s: address bits %v, go-ethereum %v", a, got, want)
		}
	}
}

func TestConfirmer(t *testing.T) {
	c := NewConfirmer[string](3)
	r := func(n uint64) BlockRef { return BlockRef{Number: n, Hash: common.Hash{byte(n)}} }
	c.Include(r(10), "a")
	c.Include(r(11), "b", "c")
	if got := c.Confirmed(11); got != nil {
		t.Fatalf("confirmed at 2 confirmations: %v", got)
	}
	got := c.Confirmed(12)
	if len(got) != 1 || got[0].Items[0] != "a" {
		t.Fatalf("at head 12 want a confirmed, got %v", got)
	}
	c.Include(r(12), "d")
	rm := c.Removed([]BlockRef{r(12)})
	if len(rm) != 1 || rm[0].Items[0] != "d" || c.Pending() != 1 {
		t.Fatalf("removed %v, pending %d", rm, c.Pending())
	}
	if got := c.Confirmed(100); len(got) != 1 || len(got[0].Items) != 2 {
		t.Fatalf("at head 100: %v", got)
	}
	if Depth(12, 10) != 3 || Depth(9, 10) != 0 {
		t.Fatal("Depth")
	}
}
