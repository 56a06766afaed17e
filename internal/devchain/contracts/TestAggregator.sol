// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title TestAggregator
/// @notice Chainlink AggregatorV3-style price feed for the feedd dev chain.
/// Anyone may push an answer with updateAnswer, which starts a new round and
/// emits Chainlink's NewRound and AnswerUpdated events. The constructor
/// records the initial answer as round 1 (emitting the same two events), so
/// latestRoundData never reverts.
contract TestAggregator {
    struct Round {
        int256 answer;
        uint64 startedAt;
        uint64 updatedAt;
    }

    uint8 public immutable decimals;
    string public description;
    /// @notice Aggregator version, as reported by Chainlink's OCR aggregators.
    uint256 public constant version = 4;
    /// @notice Id of the latest round (1 after deployment).
    uint256 public latestRound;

    mapping(uint256 => Round) private _rounds;

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);

    constructor(uint8 decimals_, string memory description_, int256 initialAnswer) {
        decimals = decimals_;
        description = description_;
        _update(initialAnswer);
    }

    /// @notice Starts round latestRound+1 with answer, stamped with the block time.
    function updateAnswer(int256 answer) external returns (uint256 roundId) {
        return _update(answer);
    }

    function latestAnswer() external view returns (int256) {
        return _rounds[latestRound].answer;
    }

    function latestTimestamp() external view returns (uint256) {
        return _rounds[latestRound].updatedAt;
    }

    function getAnswer(uint256 roundId) external view returns (int256) {
        return _rounds[roundId].answer;
    }

    function getTimestamp(uint256 roundId) external view returns (uint256) {
        return _rounds[roundId].updatedAt;
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return getRoundData(uint80(latestRound));
    }

    /// @notice Reverts with "No data present" (as Chainlink does) for an unknown round.
    function getRoundData(uint80 _roundId)
        public
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        Round memory r = _rounds[_roundId];
        require(r.updatedAt > 0, "No data present");
        return (_roundId, r.answer, r.startedAt, r.updatedAt, _roundId);
    }

    function _update(int256 answer) private returns (uint256 roundId) {
        roundId = latestRound + 1;
        latestRound = roundId;
        _rounds[roundId] = Round(answer, uint64(block.timestamp), uint64(block.timestamp));
        emit NewRound(roundId, msg.sender, block.timestamp);
        emit AnswerUpdated(answer, roundId, block.timestamp);
    }
}
