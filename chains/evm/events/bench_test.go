package events

import (
	"math/big"
	"testing"
)

func BenchmarkDecodeTransfer(b *testing.B) {
	ev := mustParse(b, sigTransfer)
	topics, data := packLog(b, ev, alice, bob, bigInt("1000000000000000000000000"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(ev, topics, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTransferSmallValue(b *testing.B) {
	ev := mustParse(b, sigTransfer)
	topics, data := packLog(b, ev, alice, bob, big.NewInt(1_000_000))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(ev, topics, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSwapV3(b *testing.B) {
	ev := mustParse(b, sigSwapV3)
	topics, data := packLog(b, ev, alice, bob, bigInt("-1000000000000000000"), bigInt("3000000000"),
		bigInt("1461446703485210103287273052203988822378723970341"), bigInt("340282366920938463463374607431768211455"), big.NewInt(-887272))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(ev, topics, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTransferBatch(b *testing.B) {
	ev := mustParse(b, sigTransferBatch)
	ids := make([]*big.Int, 50)
	for i := range ids {
		ids[i] = big.NewInt(int64(i) * 1e15)
	}
	topics, data := packLog(b, ev, carol, alice, bob, ids, ids)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(ev, topics, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSignature(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseSignature(sigSwapV3); err != nil {
			b.Fatal(err)
		}
	}
}
