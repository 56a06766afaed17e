// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface IERC20Balance {
    function balanceOf(address account) external view returns (uint256);
}

interface IUniswapV2Callee {
    function uniswapV2Call(address sender, uint256 amount0, uint256 amount1, bytes calldata data) external;
}

/// @title TestPair
/// @notice Uniswap-V2-style constant-product pair over two ERC-20s for the
/// feedd dev chain, without liquidity tokens: seed liquidity by transferring
/// both tokens to the pair and calling sync(). token0 is the lower address,
/// as in Uniswap V2. swap() follows UniswapV2Pair.swap (input transferred in
/// beforehand, optimistic transfer out, K check with the 0.3% fee);
/// swapExactIn() pulls the input with transferFrom and swaps in one call.
contract TestPair {
    uint256 private constant _UINT112_MAX = type(uint112).max;

    address public immutable token0;
    address public immutable token1;

    uint112 private _reserve0;
    uint112 private _reserve1;
    uint32 private _blockTimestampLast;

    uint256 private _unlocked = 1;

    event Swap(
        address indexed sender,
        uint256 amount0In,
        uint256 amount1In,
        uint256 amount0Out,
        uint256 amount1Out,
        address indexed to
    );
    event Sync(uint112 reserve0, uint112 reserve1);

    modifier lock() {
        require(_unlocked == 1, "TestPair: LOCKED");
        _unlocked = 0;
        _;
        _unlocked = 1;
    }

    constructor(address tokenA, address tokenB) {
        require(tokenA != tokenB, "TestPair: IDENTICAL_ADDRESSES");
        (address t0, address t1) = tokenA < tokenB ? (tokenA, tokenB) : (tokenB, tokenA);
        require(t0 != address(0), "TestPair: ZERO_ADDRESS");
        token0 = t0;
        token1 = t1;
    }

    function getReserves() public view returns (uint112 reserve0, uint112 reserve1, uint32 blockTimestampLast) {
        reserve0 = _reserve0;
        reserve1 = _reserve1;
        blockTimestampLast = _blockTimestampLast;
    }

    /// @notice Uniswap V2's getAmountOut: output for amountIn with the 0.3% fee.
    function getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut)
        public
        pure
        returns (uint256 amountOut)
    {
        require(amountIn > 0, "TestPair: INSUFFICIENT_INPUT_AMOUNT");
        require(reserveIn > 0 && reserveOut > 0, "TestPair: INSUFFICIENT_LIQUIDITY");
        uint256 amountInWithFee = amountIn * 997;
        amountOut = (amountInWithFee * reserveOut) / (reserveIn * 1000 + amountInWithFee);
    }

    /// @notice Sets the reserves to the pair's token balances.
    function sync() external lock {
        _update(IERC20Balance(token0).balanceOf(address(this)), IERC20Balance(token1).balanceOf(address(this)));
    }

    /// @notice Uniswap V2 swap: sends the outputs to `to`, then requires that
    /// the input already in the pair keeps K (after the 0.3% fee). A non-empty
    /// data calls uniswapV2Call on `to` (flash swap) before the check.
    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external lock {
        _swap(amount0Out, amount1Out, to, data);
    }

    /// @notice Pulls amountIn of tokenIn from the caller (who must have
    /// approved the pair), sends getAmountOut of the other token to `to` and
    /// updates the reserves, emitting Sync and Swap.
    function swapExactIn(address tokenIn, uint256 amountIn, address to) external lock returns (uint256 amountOut) {
        bool zeroForOne = tokenIn == token0;
        require(zeroForOne || tokenIn == token1, "TestPair: INVALID_TOKEN");
        (uint256 reserveIn, uint256 reserveOut) = zeroForOne ? (_reserve0, _reserve1) : (_reserve1, _reserve0);
        amountOut = getAmountOut(amountIn, reserveIn, reserveOut);
        _safeTransferFrom(tokenIn, msg.sender, address(this), amountIn);
        if (zeroForOne) {
            _swap(0, amountOut, to, "");
        } else {
            _swap(amountOut, 0, to, "");
        }
    }

    function _swap(uint256 amount0Out, uint256 amount1Out, address to, bytes memory data) private {
        require(amount0Out > 0 || amount1Out > 0, "TestPair: INSUFFICIENT_OUTPUT_AMOUNT");
        (uint112 reserve0, uint112 reserve1,) = getReserves();
        require(amount0Out < reserve0 && amount1Out < reserve1, "TestPair: INSUFFICIENT_LIQUIDITY");

        uint256 balance0;
        uint256 balance1;
        {
            address t0 = token0;
            address t1 = token1;
            require(to != t0 && to != t1, "TestPair: INVALID_TO");
            if (amount0Out > 0) _safeTransfer(t0, to, amount0Out);
            if (amount1Out > 0) _safeTransfer(t1, to, amount1Out);
            if (data.length > 0) IUniswapV2Callee(to).uniswapV2Call(msg.sender, amount0Out, amount1Out, data);
            balance0 = IERC20Balance(t0).balanceOf(address(this));
            balance1 = IERC20Balance(t1).balanceOf(address(this));
        }
        uint256 amount0In = balance0 > reserve0 - amount0Out ? balance0 - (reserve0 - amount0Out) : 0;
        uint256 amount1In = balance1 > reserve1 - amount1Out ? balance1 - (reserve1 - amount1Out) : 0;
        require(amount0In > 0 || amount1In > 0, "TestPair: INSUFFICIENT_INPUT_AMOUNT");
        {
            uint256 balance0Adjusted = balance0 * 1000 - amount0In * 3;
            uint256 balance1Adjusted = balance1 * 1000 - amount1In * 3;
            require(
                balance0Adjusted * balance1Adjusted >= uint256(reserve0) * uint256(reserve1) * 1000 ** 2,
                "TestPair: K"
            );
        }
        _update(balance0, balance1);
        emit Swap(msg.sender, amount0In, amount1In, amount0Out, amount1Out, to);
    }

    function _update(uint256 balance0, uint256 balance1) private {
        require(balance0 <= _UINT112_MAX && balance1 <= _UINT112_MAX, "TestPair: OVERFLOW");
        _reserve0 = uint112(balance0);
        _reserve1 = uint112(balance1);
        _blockTimestampLast = uint32(block.timestamp % 2 ** 32);
        emit Sync(uint112(balance0), uint112(balance1));
    }

    function _safeTransfer(address token, address to, uint256 value) private {
        (bool success, bytes memory ret) = token.call(abi.encodeWithSelector(0xa9059cbb, to, value));
        require(success && (ret.length == 0 || abi.decode(ret, (bool))), "TestPair: TRANSFER_FAILED");
    }

    function _safeTransferFrom(address token, address from, address to, uint256 value) private {
        (bool success, bytes memory ret) = token.call(abi.encodeWithSelector(0x23b872dd, from, to, value));
        require(success && (ret.length == 0 || abi.decode(ret, (bool))), "TestPair: TRANSFER_FROM_FAILED");
    }
}
