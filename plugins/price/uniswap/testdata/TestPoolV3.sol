// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title TestPoolV3
/// @notice A stand-in for a Uniswap V3 pool in price.uniswapv3's tests: it
/// has token0, token1 and slot0 as a V3 pool does, and swap() sets the price
/// and emits V3's Swap event with the amounts given (no liquidity maths).
contract TestPoolV3 {
    address public immutable token0;
    address public immutable token1;
    uint160 private _sqrtPriceX96;
    int24 private _tick;

    event Swap(
        address indexed sender,
        address indexed recipient,
        int256 amount0,
        int256 amount1,
        uint160 sqrtPriceX96,
        uint128 liquidity,
        int24 tick
    );

    constructor(address t0, address t1, uint160 sqrtPriceX96) {
        token0 = t0;
        token1 = t1;
        _sqrtPriceX96 = sqrtPriceX96;
    }

    function slot0()
        external
        view
        returns (uint160 sqrtPriceX96, int24 tick, uint16 observationIndex, uint16 observationCardinality,
            uint16 observationCardinalityNext, uint8 feeProtocol, bool unlocked)
    {
        return (_sqrtPriceX96, _tick, 0, 1, 1, 0, true);
    }

    /// @notice Records a swap of amount0/amount1 (positive: into the pool)
    /// that moved the price to sqrtPriceX96.
    function swap(int256 amount0, int256 amount1, uint160 sqrtPriceX96) external {
        _sqrtPriceX96 = sqrtPriceX96;
        emit Swap(msg.sender, msg.sender, amount0, amount1, sqrtPriceX96, 1e18, _tick);
    }
}
