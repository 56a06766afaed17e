// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title TestMulti
/// @notice Minimal ERC-1155 for the feedd dev chain. Anyone may mint. It does
/// not call the onERC1155Received / onERC1155BatchReceived hooks: recipients on
/// the dev chain are externally owned accounts.
contract TestMulti {
    mapping(uint256 => mapping(address => uint256)) private _balances;
    mapping(address => mapping(address => bool)) private _operatorApprovals;

    event TransferSingle(
        address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value
    );
    event TransferBatch(
        address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values
    );
    event ApprovalForAll(address indexed owner, address indexed operator, bool approved);

    /// @notice ERC-165: ERC-165 itself and ERC-1155.
    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 || interfaceId == 0xd9b67a26;
    }

    function balanceOf(address account, uint256 id) public view returns (uint256) {
        return _balances[id][account];
    }

    function balanceOfBatch(address[] calldata accounts, uint256[] calldata ids)
        external
        view
        returns (uint256[] memory balances)
    {
        require(accounts.length == ids.length, "TestMulti: accounts and ids length mismatch");
        balances = new uint256[](accounts.length);
        for (uint256 i = 0; i < accounts.length; ++i) {
            balances[i] = _balances[ids[i]][accounts[i]];
        }
    }

    function setApprovalForAll(address operator, bool approved) external {
        require(operator != msg.sender, "TestMulti: setting approval status for self");
        _operatorApprovals[msg.sender][operator] = approved;
        emit ApprovalForAll(msg.sender, operator, approved);
    }

    function isApprovedForAll(address account, address operator) public view returns (bool) {
        return _operatorApprovals[account][operator];
    }

    function safeTransferFrom(address from, address to, uint256 id, uint256 value, bytes calldata data) external {
        data; // no receiver hook on the dev chain
        _checkTransfer(from, to);
        _move(from, to, id, value);
        emit TransferSingle(msg.sender, from, to, id, value);
    }

    function safeBatchTransferFrom(
        address from,
        address to,
        uint256[] calldata ids,
        uint256[] calldata values,
        bytes calldata data
    ) external {
        data; // no receiver hook on the dev chain
        require(ids.length == values.length, "TestMulti: ids and values length mismatch");
        _checkTransfer(from, to);
        for (uint256 i = 0; i < ids.length; ++i) {
            _move(from, to, ids[i], values[i]);
        }
        emit TransferBatch(msg.sender, from, to, ids, values);
    }

    /// @notice Creates amount of token id for `to`. Open to anyone (dev chain only).
    function mint(address to, uint256 id, uint256 amount) external {
        require(to != address(0), "TestMulti: mint to the zero address");
        _balances[id][to] += amount;
        emit TransferSingle(msg.sender, address(0), to, id, amount);
    }

    /// @notice Creates amounts[i] of token ids[i] for `to`. Open to anyone (dev chain only).
    function mintBatch(address to, uint256[] calldata ids, uint256[] calldata amounts) external {
        require(to != address(0), "TestMulti: mint to the zero address");
        require(ids.length == amounts.length, "TestMulti: ids and amounts length mismatch");
        for (uint256 i = 0; i < ids.length; ++i) {
            _balances[ids[i]][to] += amounts[i];
        }
        emit TransferBatch(msg.sender, address(0), to, ids, amounts);
    }

    function _checkTransfer(address from, address to) private view {
        require(to != address(0), "TestMulti: transfer to the zero address");
        require(
            from == msg.sender || _operatorApprovals[from][msg.sender], "TestMulti: caller is not owner nor approved"
        );
    }

    function _move(address from, address to, uint256 id, uint256 value) private {
        uint256 fromBalance = _balances[id][from];
        require(fromBalance >= value, "TestMulti: insufficient balance for transfer");
        unchecked {
            _balances[id][from] = fromBalance - value;
        }
        _balances[id][to] += value;
    }
}
